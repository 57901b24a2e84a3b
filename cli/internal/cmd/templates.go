package cmd

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/bindery-dev/bindery/apis/catalog"
	"github.com/bindery-dev/bindery/cli/internal/bind"
)

func newTemplates(streams genericiooptions.IOStreams) *cobra.Command {
	var fo bind.FetchOptions
	cmd := &cobra.Command{
		Use:   "templates <url>",
		Short: "List what a provider offers, before logging in",
		Long: `templates lists the services a provider offers. It works before login when
the provider's operators made the catalog public (bindery-backend
--public-catalog); otherwise kubectl bind <url> shows them after login.`,
		Example: `  kubectl bind templates https://bindery.example.com/export`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := bind.FetchCatalog(cmd.Context(), &http.Client{Timeout: 30 * time.Second}, args[0], fo)
			if err != nil {
				return err
			}
			return printCatalog(streams.Out, l)
		},
	}
	cmd.Flags().BoolVar(&fo.InsecureHTTP, bind.InsecureHTTPFlag, false, "Allow a provider at a plain http:// address outside this machine; what it answers can then be read or changed on the way.")
	return cmd
}

func printCatalog(out io.Writer, l *catalog.Listing) error {
	fmt.Fprintf(out, "%s offers:\n\n", l.ProviderPrettyName) //nolint:errcheck
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tDISPLAY NAME\tRESOURCES\tREADY\tDESCRIPTION") //nolint:errcheck
	for _, s := range l.Services {
		ready := "True"
		if !s.Ready {
			ready = "False: " + s.Problem
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.DisplayName, strings.Join(s.Resources, ","), ready, s.Description) //nolint:errcheck
	}
	return w.Flush()
}
