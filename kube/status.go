package kube

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graphjob/graphjob/contract"
)

// JobState says where a run is by its Job's conditions: Succeeded once the
// Job is Complete, Failed once it Failed, else Running. The run's stored
// result, when there is one, says more (checkpoints.Store.Status).
func JobState(job *batchv1.Job) contract.RunState {
	switch c := ended(job); {
	case c == nil:
		return contract.Running
	case c.Type == batchv1.JobComplete:
		return contract.Succeeded
	}
	return contract.Failed
}

// JobEnded reports whether a Job has ended and, if it failed, why.
func JobEnded(job *batchv1.Job) (bool, error) {
	c := ended(job)
	if c == nil || c.Type == batchv1.JobComplete {
		return c != nil, nil
	}
	e := &JobFailedError{Namespace: job.Namespace, Name: job.Name, Reason: c.Reason, Message: c.Message, Code: contract.ExitTransient}
	if c.Reason == batchv1.JobReasonPodFailurePolicy {
		// Its pod exited 2 or 3, and a run that failed (3) has its result.
		e.Code = contract.ExitInvalid
	}
	return true, e
}

func ended(job *batchv1.Job) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// JobFailedError is a run's Job that failed. Code is the exit code
// graphjob run gives for it.
type JobFailedError struct {
	Namespace, Name string
	Reason, Message string
	Code            int
}

func (e *JobFailedError) Error() string {
	return fmt.Sprintf("job %s/%s failed (%s): %s; see kubectl logs job/%s", e.Namespace, e.Name, e.Reason, e.Message, e.Name)
}

// ExitCode is the exit code graphjob gives for the failure.
func (e *JobFailedError) ExitCode() int { return e.Code }
