package main

import (
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/kube"
)

// jobFlags are the flags of the commands that make Jobs: render, submit.
type jobFlags struct {
	name, namespace string
	image           string
	store           string
	storeSecret     string
	input           string
	graphURL        string
	backoffLimit    int32
	activeDeadline  time.Duration
	ttl             time.Duration
	drainTimeout    time.Duration
	serviceAccount  string
	cpu, memory     string
	memoryLimit     string
	output          string
	schedule, zone  string
	concurrency     string
	kubeVersion     string
	env             []string
	envFromSecrets  []string
}

// release is the release this source is. A binary built from its release
// tag (make build on the tag: main.version v0.1.0) makes Jobs that run its
// own image; any other build (dev, v0.1.0-3-gabc1234, -dirty) makes Jobs
// that run this release's, never a moving tag such as :latest.
const release = "v0.1.0"

// releaseTag is a version that names a release: vMAJOR.MINOR.PATCH, or a
// pre-release of one (v0.2.0-rc.1), as git describe prints a tag itself.
var releaseTag = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-(alpha|beta|rc)\.[0-9]+)?$`)

// defaultImage is the image of the release this graphjob is, or was built
// from.
func defaultImage() string {
	tag := release
	if releaseTag.MatchString(version) {
		tag = version
	}
	return "ghcr.io/graphjob/graphjob:" + tag
}

func (f *jobFlags) register(cmd *cobra.Command, cron bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "the Job's name, which is the run's ID (default: the graph's name and the time, such as loop-20261124-020000)")
	if cron {
		fl.Lookup("name").Usage = "the CronJob's name; its Jobs add the scheduled time (default: the graph's name)"
		fl.StringVar(&f.schedule, "schedule", "", "cron schedule, five fields such as '0 2 * * *', or @daily (required)")
		fl.StringVar(&f.zone, "time-zone", "", "IANA time zone of the schedule, such as Europe/Berlin (default: the controller's, usually UTC)")
		fl.StringVar(&f.concurrency, "concurrency-policy", string(batchv1.ForbidConcurrent), "Allow, Forbid or Replace runs that would overlap")
	}
	fl.StringVarP(&f.namespace, "namespace", "n", "", "the namespace (default: none in the YAML, so kubectl's current one)")
	fl.StringVar(&f.image, "image", defaultImage(), "graphjob's container image")
	fl.StringVar(&f.store, "store", "", "the checkpoint store, shared storage: s3://BUCKET?region=R, gs://BUCKET, azblob://CONTAINER (required)")
	fl.StringVar(&f.storeSecret, "store-secret", "", "a Secret whose keys become the pod's environment: the store's credentials")
	fl.StringVar(&f.input, "input", "", "the run's input, a JSON object, or @FILE")
	fl.StringVar(&f.graphURL, "graph-url", "", "read the graph in the pod from this URL (s3://, gs://, azblob://) instead of a ConfigMap")
	fl.Int32Var(&f.backoffLimit, "backoff-limit", 6, "pods that may fail transiently (exit 1) before the Job fails; drained and disrupted pods do not count")
	fl.DurationVar(&f.activeDeadline, "active-deadline", 0, "fail the run if it takes longer (default: no limit)")
	fl.DurationVar(&f.ttl, "ttl-after-finished", 0, "delete the finished Job after this long (default: keep it)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", contract.DefaultDrainTimeout, "what running tasks get after SIGTERM; the pod's grace period is 5 s longer")
	fl.StringArrayVar(&f.env, "env", nil, "set an environment variable of the pod: NAME=VALUE, or NAME=secret:SECRET/KEY for a key of a Secret; repeatable")
	fl.StringArrayVar(&f.envFromSecrets, "env-from-secret", nil, "a Secret whose keys all become the pod's environment, as --store-secret's; repeatable")
	fl.StringVar(&f.serviceAccount, "service-account", "", "the pod's service account (its token is not mounted)")
	fl.StringVar(&f.cpu, "cpu", kube.DefaultCPU, "CPU requested")
	fl.StringVar(&f.memory, "memory", kube.DefaultMemory, "memory requested")
	fl.StringVar(&f.memoryLimit, "memory-limit", kube.DefaultMemoryLimit, "memory limit")
	fl.StringVarP(&f.output, "output", "o", "yaml", "yaml or json")
	fl.StringVar(&f.kubeVersion, "kube-version", "", "the Kubernetes version to render for, such as 1.28: fields it lacks are left out (default: the newest)")
}

// run makes the kube.Template of a graph file; the file's bytes are
// returned for its ConfigMap.
func (f *jobFlags) run(ctx context.Context, stdin io.Reader, file string, cron bool) (kube.Template, []byte, error) {
	if err := checkNamespace(f.namespace); err != nil {
		return kube.Template{}, nil, err
	}
	if cron {
		if err := checkSchedule(f.schedule); err != nil {
			return kube.Template{}, nil, err
		}
	}
	gr, data, err := loadGraph(ctx, file)
	if err != nil {
		return kube.Template{}, nil, err
	}
	if subs := gr.Subgraphs(); len(subs) > 0 {
		return kube.Template{}, nil, usagef("graph %s runs other graph files (%s), and a Job gets its one graph file: "+
			"graphs with graph nodes run with graphjob run for now, not on Kubernetes", gr.Name, strings.Join(subs, ", "))
	}
	r := kube.Template{
		Name: f.name, Namespace: f.namespace, Store: f.store,
		Graph:        kube.Graph{Name: gr.Name, Digest: gr.Digest, URL: f.graphURL},
		BackoffLimit: &f.backoffLimit,
		DrainTimeout: f.drainTimeout,
	}
	if r.Name == "" {
		r.Name = kube.DefaultName(gr.Name, time.Now(), cron)
	}
	if f.graphURL == "" {
		r.Graph.ConfigMap = kube.ConfigMapName(gr.Name, gr.Digest)
	}
	if f.input != "" {
		values, err := parseInput(stdin, f.input)
		if err != nil {
			return r, nil, err
		}
		if _, err := gr.Input(values); err != nil {
			return r, nil, usagef("--input: %w", err)
		}
		compact, err := json.Marshal(values)
		if err != nil {
			return r, nil, err
		}
		r.Input = string(compact)
	}
	o := kube.Overrides{
		Image: f.image, ServiceAccount: f.serviceAccount, StoreSecret: f.storeSecret,
		CPU: f.cpu, Memory: f.memory, MemoryLimit: f.memoryLimit, EnvFromSecrets: f.envFromSecrets,
	}
	if f.activeDeadline > 0 {
		o.ActiveDeadline = f.activeDeadline.String()
	}
	if f.ttl > 0 {
		o.TTLAfterFinished = f.ttl.String()
	}
	for _, kv := range f.env {
		v, err := kube.ParseEnv(kv)
		if err != nil {
			return r, nil, usagef("--env %w", err)
		}
		o.Env = append(o.Env, v)
	}
	if err := o.Apply(&r, flagOf); err != nil {
		return r, nil, usagef("%w", err)
	}
	if f.kubeVersion != "" {
		if r.Server, err = kube.ParseVersionText(f.kubeVersion); err != nil {
			return r, nil, usagef("--kube-version %q: give MAJOR.MINOR, such as 1.28", f.kubeVersion)
		}
	}
	return r, data, nil
}

// checkNamespace checks -n before anything is rendered: a namespace's name
// is a DNS label.
func checkNamespace(ns string) error {
	if ns == "" {
		return nil
	}
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return usagef("-n/--namespace %q: a namespace's name has at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit", ns)
	}
	return nil
}

// checkSchedule checks --schedule as the API server checks a CronJob's
// schedule: five fields or a descriptor (@daily, @every 1h), read by the
// parser the CronJob controller uses; its time zone is --time-zone's.
func checkSchedule(schedule string) error {
	switch {
	case strings.TrimSpace(schedule) == "":
		return usagef("a CronJob needs a schedule, such as --schedule '0 2 * * *'")
	case strings.Contains(schedule, "TZ="):
		return usagef("--schedule %q: give the time zone as --time-zone, such as --time-zone Europe/Berlin, not in the schedule", schedule)
	}
	if _, err := cron.ParseStandard(schedule); err != nil {
		return usagef("--schedule %q: give five fields (minute hour day-of-month month day-of-week) such as '0 2 * * *', or @hourly, @daily, @weekly, @monthly: %w", schedule, err)
	}
	return nil
}

// flagOf names the flag that sets an Overrides field: memoryLimit is
// --memory-limit; envFromSecrets, a list, is the repeatable
// --env-from-secret.
func flagOf(field string) string {
	if field == "envFromSecrets" {
		return "--env-from-secret"
	}
	var b strings.Builder
	b.WriteString("--")
	for _, c := range field {
		if unicode.IsUpper(c) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// print writes objects as YAML or JSON (a List for several).
func (f *jobFlags) print(g *globals, objs ...any) error {
	switch f.output {
	case "yaml":
		out, err := kube.YAML(objs...)
		if err != nil {
			return err
		}
		_, err = g.stdout.Write(out)
		return err
	case "json":
		v := objs[0]
		if len(objs) > 1 {
			v = map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
		}
		return printJSON(g.stdout, v)
	}
	return usagef("--output %q: use yaml or json", f.output)
}

// printWithGraph prints obj, after the ConfigMap holding the graph file
// when the run reads it from one.
func (f *jobFlags) printWithGraph(g *globals, r kube.Template, file []byte, obj any) error {
	if r.Graph.ConfigMap == "" {
		return f.print(g, obj)
	}
	return f.print(g, kube.ConfigMap(r.Namespace, r.Graph.Name, r.Graph.Digest, file), obj)
}

func newRenderCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print the Kubernetes objects that run a graph, to apply or to commit",
	}
	cmd.AddCommand(newRenderJobCmd(g), newRenderCronJobCmd(g), newRenderConfigMapCmd(g))
	return cmd
}

func newRenderConfigMapCmd(g *globals) *cobra.Command {
	f := &jobFlags{}
	cmd := &cobra.Command{
		Use:   "configmap FILE",
		Short: "Print the ConfigMap holding a graph, for the scheduler's configMap graphs",
		Long: `Print the ConfigMap holding the graph file: immutable, named after the graph
and its digest (graph-NAME-DIGEST), labelled with the graph's name. A schedule of
graphjob scheduler names it as graph: {configMap: NAME}; an edited graph is a new
ConfigMap, so the runs already started keep theirs.`,
		Example: `  graphjob render configmap graph.yaml -n graphjob | kubectl apply -f -`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNamespace(f.namespace); err != nil {
				return err
			}
			gr, data, err := loadGraph(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(g, kube.ConfigMap(f.namespace, gr.Name, gr.Digest, data))
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.namespace, "namespace", "n", "", "the namespace (default: none in the YAML, so kubectl's current one)")
	fl.StringVarP(&f.output, "output", "o", "yaml", "yaml or json")
	return cmd
}

func newRenderJobCmd(g *globals) *cobra.Command {
	f := &jobFlags{}
	cmd := &cobra.Command{
		Use:   "job FILE",
		Short: "Print the ConfigMap holding a graph and a Job that runs it once",
		Long: `Print the ConfigMap holding the graph file (named after its digest, immutable) and
a Job that runs it once, as YAML for kubectl apply -f -. The Job's name is the
run's ID: a pod that replaces a failed or evicted one resumes the run.`,
		Example: `  graphjob render job graph.yaml --store 's3://runs?region=eu-central-1' --store-secret graphjob-store | kubectl apply -f -`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, data, err := f.run(cmd.Context(), g.stdin, args[0], false)
			if err != nil {
				return err
			}
			job, err := kube.Job(r)
			if err != nil {
				return usagef("%w", err)
			}
			return f.printWithGraph(g, r, data, job)
		},
	}
	f.register(cmd, false)
	return cmd
}

func newRenderCronJobCmd(g *globals) *cobra.Command {
	f := &jobFlags{}
	cmd := &cobra.Command{
		Use:   "cronjob FILE --schedule S",
		Short: "Print the ConfigMap holding a graph and a CronJob that runs it on a schedule",
		Long: `Print the ConfigMap holding the graph file and a CronJob that starts a run of it
on a schedule, as YAML for kubectl apply -f -. Each Job the CronJob creates is a
run of its own, named after the CronJob and the scheduled time. Start one now
with kubectl create job NAME --from=cronjob/CRONJOB.`,
		Example: `  graphjob render cronjob graph.yaml --schedule '0 2 * * *' --time-zone Europe/Berlin --store 's3://runs?region=eu-central-1' | kubectl apply -f -`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, data, err := f.run(cmd.Context(), g.stdin, args[0], true)
			if err != nil {
				return err
			}
			policy := batchv1.ConcurrencyPolicy(f.concurrency)
			switch policy {
			case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
			default:
				return usagef("--concurrency-policy %q: use Allow, Forbid or Replace", f.concurrency)
			}
			cj, err := kube.CronJob(r, f.schedule, f.zone, policy)
			if err != nil {
				return usagef("%w", err)
			}
			return f.printWithGraph(g, r, data, cj)
		},
	}
	f.register(cmd, true)
	return cmd
}
