package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check graph files without running them",
		Long: `Check graph files: YAML shape, names, edges, and every CEL expression against
the declared state. Prints one line per valid file; problems go to stderr with
file, line and column. Exits 2 if any file is invalid.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, files []string) error {
			var errs []error
			for _, f := range files {
				gr, _, err := loadGraph(cmd.Context(), f)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(g.stdout, "%s: ok (graph %s, %d nodes, %s)\n", f, gr.Name, len(gr.Runnable.Nodes()), gr.Digest)
			}
			return errors.Join(errs...)
		},
	}
}

func newGraphCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Draw a graph file as Mermaid or Graphviz DOT",
		Long: `Draw a graph file: its nodes (with their kind), static edges (solid), when edges
(dashed, labelled with their condition) and map edges (bold, labelled with the
list they map over).`,
		Example: `  graphjob graph examples/loop/graph.yaml
  graphjob graph examples/fanout/graph.yaml --format dot | dot -Tsvg > fanout.svg`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "mermaid" && format != "dot" {
				return usagef("--format %q: use mermaid or dot", format)
			}
			gr, _, err := loadGraph(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := gr.Mermaid()
			if format == "dot" {
				out = gr.DOT()
			}
			_, err = fmt.Fprint(g.stdout, out)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "mermaid", "mermaid or dot")
	return cmd
}
