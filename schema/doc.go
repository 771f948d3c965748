// Package schema models the input schema each Openapi Visengine service
// publishes (GET /visure/{hash}: campi, validazione, opzioni, prices) and
// checks submissions against it before anything is sent upstream.
//
// Contract:
//
//   - Parse and Compile turn a schema answer into a *Service. They never
//     panic; a schema that cannot be used (no fields, a validazione that
//     does not parse, a campi key that is not $N, a rule naming a field that
//     does not exist) is a *SchemaError naming the place.
//   - Service.Validate reports every problem of an input at once, as a
//     *ValidationError of Problems with stable machine codes (see the Code
//     constants), or returns the exact json_visura, opzioni and price to
//     send. Messages never repeat field values: they are safe to log.
//   - The validazione rule is compiled once per schema into a disjunction of
//     field sets; evaluating it allocates nothing.
//   - validazione decides which fields are required: a field every
//     alternative needs; null decides only for a service without one.
//   - Every size is bounded (Limits): a file, a submission's files
//     together, text, option names, problems listed.
//   - Files are inline ("name|data:<mime>;base64,<data>") or references to
//     JetStream Object Store objects ("[name|]nats-os://<bucket>/<object>").
//     ResolveFiles checks references without reading them (links refused,
//     sizes declared, digests known); Prepared.WriteJSONVisura streams them
//     into the request body, failing with ErrFileChanged if an object is
//     not the one checked. No file content is held in between.
//   - Service.MarshalJSON writes the canonical JSON form (the GET
//     /visure/{hash} data object), which Parse reads back to an equal
//     Service.
//   - Cache serves schemas from memory, then a JetStream KV bucket shared by
//     every replica, then the upstream; concurrent misses make one upstream
//     call; expired entries are served (and the failure logged) while the
//     upstream is down.
//
// See docs/schema.md for the error codes, the file-reference syntax and the
// benchmark numbers.
package schema
