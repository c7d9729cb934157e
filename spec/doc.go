// Package spec loads YAML graph files (apiVersion graphjob.dev/v1, kind Graph)
// into runnable graphs of package graph.
//
// A file declares typed state channels, nodes and edges. Node kinds are set
// (channel -> CEL expression), exec (a command, no shell) and http (a POST to
// a URL); exec and http nodes speak a JSON protocol: the request
// {"state", "item", "run"} on stdin or as the body, a JSON object of channel
// updates back. Expressions are CEL, type-checked against the declared state
// when the file is loaded, with a cost limit when they run.
//
// A graph reads only the variables of the process's environment that it
// declares (spec.env), where a node writes ${NAME}: in an exec node's env and
// an http node's headers. Commands do not inherit the environment, which
// holds the store's credentials; they get a fixed few variables (PATH, HOME,
// the locale...) and their node's env. An http node's errors quote what the
// server sent back with the header values it sent redacted.
//
// Loading reports every problem it finds as an Error that names the file, the
// line and the column, and says what to do. Files are limited in size, node
// count, expression length and expression cost (see the Max constants), so a
// hostile file cannot hang or exhaust the process that loads it.
//
// The package does not log: exec nodes' stderr goes to a writer the caller
// chooses (WithStderr).
package spec
