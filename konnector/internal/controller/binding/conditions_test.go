package binding

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryReasonIsDocumented: each condition reason in conditions.go is
// in docs/konnector.md, which says what the user does about it.
func TestEveryReasonIsDocumented(t *testing.T) {
	docs, err := os.ReadFile("../../../../docs/konnector.md")
	require.NoError(t, err)
	f, err := parser.ParseFile(token.NewFileSet(), "conditions.go", nil, 0)
	require.NoError(t, err)
	reasons := 0
	ast.Inspect(f, func(n ast.Node) bool {
		v, ok := n.(*ast.ValueSpec)
		if !ok || len(v.Names) != 1 || !strings.HasPrefix(v.Names[0].Name, "Reason") {
			return true
		}
		lit := v.Values[0].(*ast.BasicLit)
		reason, err := strconv.Unquote(lit.Value)
		require.NoError(t, err)
		reasons++
		assert.Contains(t, string(docs), "`"+reason+"`", "docs/konnector.md documents %s", v.Names[0].Name)
		return true
	})
	assert.Greater(t, reasons, 10)
}
