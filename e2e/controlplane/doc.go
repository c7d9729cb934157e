// Package controlplane runs a real Kubernetes control plane on 127.0.0.1 for
// end-to-end tests: etcd, kube-apiserver (RBAC, service-account token signing,
// PodSecurity admission), kube-controller-manager (job, cronjob, garbage
// collector, TTL-after-finished, namespace, service-account and the controllers
// of Deployments) and kube-scheduler, built by package testbin. It writes an
// admin kubeconfig and keeps every server's log in its directory.
//
// It runs no kubelet: package kubelet adds a node whose pods are processes.
package controlplane
