package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/bindery-dev/bindery/apis/clusterid"
)

func newClusterID(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "cluster-id",
		Short: "Print this cluster's ID, which providers know it by",
		Long: `cluster-id prints the ID providers know this cluster by (a hash of the
kube-system namespace's UID). A provider's operator needs it to issue a
kubeconfig for kubectl bind apiservice: bindery-backend issue-kubeconfig
--cluster-id <id>.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientsFor(flags)
			if err != nil {
				return err
			}
			id, err := clusterid.Get(cmd.Context(), c.kube)
			if err != nil {
				return fmt.Errorf("%w (hint: check --kubeconfig and --context)", err)
			}
			_, err = fmt.Fprintln(streams.Out, id)
			return err
		},
	}
}
