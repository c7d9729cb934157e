package runner

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"time"

	"github.com/graphjob/graphjob/contract"

	"github.com/graphjob/graphjob/checkpoints"
)

// envInKubernetes is set in every pod.
const envInKubernetes = "KUBERNETES_SERVICE_HOST"

// podSuffix is the random suffix the Job controller appends to a pod's name.
var podSuffix = regexp.MustCompile(`-[a-z0-9]{5}$`)

// ResolveID returns the run's ID, from the first source that gives one: the
// flag; GRAPHJOB_RUN_ID; GRAPHJOB_JOB_NAME (with "-INDEX" in an Indexed Job);
// in a pod, its hostname less the Job controller's random suffix (a pod of a
// plain `kubectl create job`); else a new ID, with generated set. The same
// Job therefore always gives the same ID, so a retried pod resumes.
func ResolveID(flag string, getenv func(string) string, hostname func() (string, error)) (id string, generated bool, err error) {
	switch {
	case flag != "":
		id = flag
	case getenv(contract.EnvRunID) != "":
		id = getenv(contract.EnvRunID)
	case getenv(contract.EnvJobName) != "":
		id = getenv(contract.EnvJobName)
		if i := getenv(contract.EnvCompletionIndex); i != "" {
			id += "-" + i
		}
	case getenv(envInKubernetes) != "":
		host, err := hostname()
		if err != nil || !podSuffix.MatchString(host) {
			return "", false, fmt.Errorf("in a pod whose hostname %q is not a Job pod's name: give --run-id or set %s", host, contract.EnvRunID)
		}
		// An Indexed Job's pod is named JOB-INDEX-SUFFIX: the index stays.
		id = podSuffix.ReplaceAllString(host, "")
	default:
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		return fmt.Sprintf("run-%s-%x", time.Now().UTC().Format("20060102-150405"), b), true, nil
	}
	return id, false, checkpoints.CheckRunID(id)
}

// Origin says where an attempt runs, for the run's records: its Job,
// namespace, pod and slot, as the pod's environment gives them (see
// package contract), and its host.
func Origin(getenv func(string) string, hostname func() (string, error)) map[string]string {
	o := map[string]string{}
	for key, env := range map[string]string{"job": contract.EnvJobName, "namespace": contract.EnvNamespace, "pod": contract.EnvPodName, "slot": contract.EnvSlotTime} {
		if v := getenv(env); v != "" {
			o[key] = v
		}
	}
	if host, err := hostname(); err == nil {
		o["host"] = host
	}
	return o
}

// Slot returns a scheduled run's slot time, from contract.EnvSlotTime; the
// zero time for a run that is not scheduled. A bad value is an
// *InvalidError.
func Slot(getenv func(string) string) (time.Time, error) {
	v := getenv(contract.EnvSlotTime)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := contract.ParseSlotTime(v)
	if err != nil {
		return time.Time{}, &InvalidError{fmt.Errorf("%s: %w", contract.EnvSlotTime, err)}
	}
	return t, nil
}
