package bindflow_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr/testr"
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"

	"github.com/bindery-dev/bindery/backend/internal/bindflow"
)

func TestTemplatesIsOptIn(t *testing.T) {
	r := mux.NewRouter()
	(&bindflow.Handler{Log: testr.New(t)}).Routes(r)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/templates", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, rec.Body.String(), "only after login")
}
