// Composes subgraph SDLs with Apollo Federation 2 (the gateway's own composition).
// stdin: JSON [{name, sdl}]; stdout: JSON {errors: [messages], supergraph, entities: {type: [keys]}}.
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const services = JSON.parse(input).map(({ name, sdl }) => ({
  name,
  url: `http://${name}.invalid/graphql`,
  typeDefs: parse(sdl),
}));
const result = composeServices(services);
const out = { errors: (result.errors || []).map((e) => e.message), supergraph: null, entities: {} };
if (!result.errors) {
  out.supergraph = result.supergraphSdl;
  // join__type(graph: ..., key: "...") on each entity of the supergraph
  for (const def of parse(result.supergraphSdl).definitions) {
    const keys = (def.directives || [])
      .filter((d) => d.name.value === "join__type")
      .flatMap((d) => d.arguments.filter((a) => a.name.value === "key").map((a) => a.value.value));
    if (keys.length) out.entities[def.name.value] = keys;
  }
}
process.stdout.write(JSON.stringify(out));
