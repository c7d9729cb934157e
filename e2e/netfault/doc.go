// Package netfault is an HTTP proxy for tests that breaks chosen requests on
// the way to a real server: it cuts an upload half-way, or lets a request
// complete and drops its response, so a client cannot know the outcome.
package netfault
