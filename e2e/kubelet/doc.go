// Package kubelet is a kubelet for end-to-end tests that runs every pod bound
// to its node as local processes, so that the real Job, CronJob and garbage
// collection controllers act on real exit codes.
//
// Images map to local executables (Options.Images). Containers get their
// command, args, workingDir, env (value, fieldRef, secretKeyRef,
// configMapKeyRef, envFrom) and volumes (configMap, secret, emptyDir,
// downwardAPI, projected service-account tokens) mounted at their mountPath
// in a private mount namespace, the pod's hostname, and runAsUser/runAsGroup
// and readOnlyRootFilesystem. Status reports phase, container states, times
// and exit codes. Deleting a pod sends SIGTERM to its main process, SIGKILL to
// all its processes after the grace period, and then removes it. The kubelet
// serves container logs to the API server, so `kubectl logs` works.
//
// What it does not do: images, networking (pods share 127.0.0.1), resource
// limits, probes, init containers' ordering guarantees beyond running them
// first, one at a time.
package kubelet
