// LangGraph's test cases, built with LangGraph JS. Each case is the graph of
// parity/cases/<name>.yaml written as LangGraph users write it. Reads
// {"<name>": input, ...} on stdin and prints {"<name>": {"state": ...} or
// {"error": "..."}, ...}: the final states that graphjob's must equal.
import { StateGraph, Annotation, MessagesAnnotation, START, END, Send } from "@langchain/langgraph";
import { RemoveMessage } from "@langchain/core/messages";

const items = () => Annotation.Root({ items: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
const write = (name) => async (s) => ({ items: [s.item === undefined ? name : `${name}|${s.item}`] });
const graph = (state, nodes, deferred = []) => {
  const g = new StateGraph(state);
  for (const n of nodes) g.addNode(n, write(n), { defer: deferred.includes(n) });
  return g;
};

const cases = {
  // A node's targets are applied by name, not in the order the edge lists them.
  fanout_order: () => graph(items(), ["a", "c", "b"]).addEdge(START, "a").addEdge("a", "c").addEdge("a", "b"),

  // test_concurrent_emit_sends: a router's Sends run after the nodes edges made due.
  concurrent_emit_sends: () =>
    graph(items(), ["n1", "n1.1", "n2", "n3", "n3.1"])
      .addEdge(START, "n1").addEdge(START, "n1.1")
      .addConditionalEdges("n1", () => [new Send("n2", { item: 1 }), new Send("n2", { item: 2 }), "n3.1"])
      .addConditionalEdges("n1.1", () => [new Send("n2", { item: 3 }), new Send("n2", { item: 4 })])
      .addConditionalEdges("n2", () => "n3"),

  // test_cond_edge_after_send: every Send task routes to one node, which runs once.
  cond_edge_after_send: () =>
    graph(items(), ["n1", "n2", "n3"]).addEdge(START, "n1")
      .addConditionalEdges("n1", () => [new Send("n2", { item: "x" }), new Send("n2", { item: "x" })])
      .addConditionalEdges("n2", () => "n3"),

  // Send from START.
  send_after_start: () =>
    graph(items(), ["n"]).addConditionalEdges(START, () => [new Send("n", { item: 1 }), new Send("n", { item: 2 })]),

  // A waiting edge whose sources finish 1 and 3 supersteps apart.
  waiting_edge: () =>
    graph(items(), ["a", "b1", "b2", "b3", "c"]).addEdge(START, "a").addEdge(START, "b1")
      .addEdge("b1", "b2").addEdge("b2", "b3").addEdge(["a", "b3"], "c"),

  // A waiting edge in a loop waits for both sources each time round.
  waiting_edge_loop: () =>
    graph(items(), ["a", "b", "slow", "c"]).addEdge(START, "a").addEdge(START, "b").addEdge("b", "slow")
      .addEdge(["a", "slow"], "c").addConditionalEdges("c", (s) => (s.items.length < 8 ? ["a", "b"] : END)),

  // A deferred node runs once the fan-out of uneven depth has drained.
  defer: () =>
    graph(items(), ["a", "b1", "b2", "d"], ["d"]).addEdge(START, "a").addEdge(START, "b1")
      .addEdge("b1", "b2").addEdge("a", "d").addEdge("b2", "d"),

  // test_reducer_before_first_node: the input goes through the reducers.
  reducer_before_first_node: () => graph(items(), ["a"]).addEdge(START, "a"),

  // A reducer of the user's own: string concatenation.
  custom_reducer: () => {
    const S = Annotation.Root({ s: Annotation({ reducer: (a, b) => a + b, default: () => "a" }) });
    return new StateGraph(S).addNode("b", async () => ({ s: "b" })).addNode("c", async () => ({ s: "c" }))
      .addEdge(START, "b").addEdge(START, "c");
  },

  // Routing from START on the input.
  start_when: () => {
    const S = Annotation.Root({ n: Annotation(), items: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
    return new StateGraph(S).addNode("small", write("small")).addNode("big", write("big"))
      .addConditionalEdges(START, (s) => (s.n > 10 ? "big" : "small"));
  },

  // add_messages: added, replaced by ID and removed, from two tasks of one superstep.
  messages: () =>
    new StateGraph(MessagesAnnotation)
      .addNode("a", async () => ({ messages: [{ role: "assistant", content: "A2", id: "a1" }, new RemoveMessage({ id: "b1" })] }))
      .addNode("b", async () => ({ messages: [{ role: "user", content: "B3", id: "b3" }] }))
      .addEdge(START, "a").addEdge(START, "b"),

  // add_messages: REMOVE_ALL_MESSAGES clears what came before.
  messages_remove_all: () =>
    new StateGraph(MessagesAnnotation)
      .addNode("a", async () => ({ messages: [new RemoveMessage({ id: "__remove_all__" }), { role: "assistant", content: "fresh", id: "f" }] }))
      .addEdge(START, "a"),
};

// A compiled graph added as a node: it gets the parent's state, and its final
// state is the node's update, through the parent's reducers.
const inner = () => {
  const S = Annotation.Root({ items: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }), n: Annotation() });
  return new StateGraph(S)
    .addNode("i1", async (s) => ({ items: [`i1|${s.n}`], n: s.n + 10 }))
    .addNode("i2", async (s) => ({ items: [`i2|${s.n}`], n: s.n * 2 }))
    .addEdge(START, "i1").addEdge("i1", "i2").compile();
};
cases.subgraph = () => {
  const S = Annotation.Root({ items: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }), n: Annotation() });
  return new StateGraph(S)
    .addNode("before", async () => ({ items: ["before"], n: 1 }))
    .addNode("inner", inner())
    .addNode("after", async (s) => ({ items: [`after|${s.n}`] }))
    .addEdge(START, "before").addEdge("before", "inner").addEdge("inner", "after");
};
// A subgraph called from a node, its input and output mapped.
cases.subgraph_mapped = () => {
  const S = Annotation.Root({ items: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }), total: Annotation() });
  return new StateGraph(S)
    .addNode("inner", async () => {
      const out = await inner().invoke({ n: 5, items: ["from parent"] });
      return { total: out.n, items: out.items.map((i) => `got ${i}`) };
    })
    .addEdge(START, "inner");
};

// Messages become {type, content, id}, as graphjob's are compared.
const plain = (state) => {
  if (!Array.isArray(state.messages)) return state;
  return { ...state, messages: state.messages.map((m) => ({ type: m.getType(), content: m.content, id: m.id })) };
};

let stdin = "";
for await (const chunk of process.stdin) stdin += chunk;
const out = {};
for (const [name, input] of Object.entries(JSON.parse(stdin))) {
  try {
    out[name] = { state: plain(await cases[name]().compile().invoke(input)) };
  } catch (e) {
    out[name] = { error: String(e.message ?? e) };
  }
}
process.stdout.write(JSON.stringify(out));
