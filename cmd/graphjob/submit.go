package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/kube"
	"github.com/graphjob/graphjob/runner"
)

// kubeFlags are kubectl's flags for reaching a cluster.
type kubeFlags struct {
	kubeconfig, context string
}

func (k *kubeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&k.kubeconfig, "kubeconfig", "", "the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	fl.StringVar(&k.context, "context", "", "the kubeconfig context (default: its current one)")
}

// client connects as kubectl would, and returns the namespace to use: ns,
// else the context's.
func (k *kubeFlags) client(ns string) (kubernetes.Interface, string, error) {
	cfg, current, err := k.config()
	if err != nil {
		return nil, "", err
	}
	if ns == "" {
		ns = current
	}
	client, err := kubernetes.NewForConfig(cfg)
	return client, ns, err
}

// errNoKubeconfig is config's error when no cluster is configured at all.
var errNoKubeconfig = errors.New("no kubeconfig found")

// config is the cluster's client configuration as kubectl finds it (or the
// pod's, in a cluster), and the context's namespace.
func (k *kubeFlags) config() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
	cfg, err := cc.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		err = fmt.Errorf("%w (%w)", errNoKubeconfig, err)
	}
	if err != nil {
		return nil, "", usagef("the cluster: %w", err)
	}
	cfg.UserAgent = "graphjob/" + version
	// Protobuf, as Kubernetes' own components talk: less CPU on both sides
	// than JSON (the scheduler creates Jobs at hundreds per second).
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", usagef("the namespace: %w", err)
	}
	return cfg, ns, nil
}

func newSubmitCmd(g *globals) *cobra.Command {
	var (
		f      jobFlags
		k      kubeFlags
		wait   bool
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "submit FILE",
		Short: "Start a run of a graph as a Kubernetes Job",
		Long: `Create the ConfigMap holding the graph file (named after its digest; shared by
the graph's runs) and a Job that runs it. The Job's name is the run's ID: a pod
that replaces a failed, deleted or evicted one resumes the run.

--wait follows the run's steps in the store and exits as graphjob run would:
0 succeeded, 3 failed, 2 invalid input, 1 the Job failed otherwise. Ctrl-C stops
following, not the run. --dry-run has the API server validate the objects and
creates nothing.`,
		Example: `  graphjob submit graph.yaml --store 's3://runs?region=eu-central-1' --store-secret graphjob-store
  graphjob submit graph.yaml --name nightly-2026-11-24 --input '{"day": "2026-11-24"}' --store s3://runs --wait`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, data, err := f.run(ctx, g.stdin, args[0], false)
			if err != nil {
				return err
			}
			client, ns, err := k.client(f.namespace)
			if err != nil {
				return err
			}
			r.Namespace = ns
			if f.kubeVersion == "" {
				if r.Server, err = kube.ServerVersion(client); err != nil {
					return err
				}
			}
			cm, job, err := kube.Submit(ctx, client, r, data, dryRun)
			if errors.Is(err, kube.ErrJobExists) {
				return usagef("%w", err)
			}
			if err != nil {
				return err
			}
			if dryRun {
				// As the server would store them, less what kubectl hides too.
				job.TypeMeta, job.ManagedFields = metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, nil
				if cm != nil {
					cm.TypeMeta, cm.ManagedFields = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, nil
					return f.print(g, cm, job)
				}
				return f.print(g, job)
			}
			fmt.Fprintf(g.stdout, "job.batch/%s created: run %s (graph %s, namespace %s)\n", job.Name, job.Name, r.Graph.Name, ns)
			if !wait {
				return nil
			}
			return follow(ctx, g, client, job, r.Store)
		},
	}
	f.register(cmd, false)
	k.register(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the run until it ends and exit with its outcome")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "have the API server validate the objects; create nothing; print them")
	return cmd
}

// follow prints the run's steps as the store gets them, until its Job
// ends, then its outcome.
func follow(ctx context.Context, g *globals, client kubernetes.Interface, job *batchv1.Job, storeURL string) error {
	store, err := checkpoints.Open(ctx, storeURL, checkpoints.Options{})
	if err != nil {
		return fmt.Errorf("--wait reads the run's progress from the store: %w", err)
	}
	defer store.Close()
	ended := func(ctx context.Context) (bool, error) {
		j, err := client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil // asked again at the next tick
		}
		return kube.JobEnded(j)
	}
	final, err := runner.Follow(ctx, clock.RealClock{}, store, job.Name, ended, func(st *checkpoints.Step) {
		fmt.Fprintf(g.stderr, "step %d: %s\n", st.Step, taskList(st.Tasks))
	})
	if ctx.Err() != nil {
		fmt.Fprintf(g.stderr, "stopped following; the run goes on: graphjob runs show %s --store '%s'\n", job.Name, store)
		return nil
	}
	if err != nil {
		return err
	}
	return printCompact(g.stdout, final)
}
