// Package parity holds graphjob to LangGraph's own behaviour: LangGraph's
// test cases, each written once as a graph file (cases/NAME.yaml) and once
// as LangGraph users write it with LangGraph JS (langgraph.mjs), are run by
// both, side by side, and must end in the same state.
//
// LangGraph JS is pinned by package-lock.json and installed once per machine
// by e2e/testbin (make testbin); the tests run with make parity, and are
// skipped by go test -short.
package parity
