// Command graphjob runs graph workflows: locally on the embedded default
// store, and as Kubernetes batch work.
package main
