// Package schema models the input schema each Openapi Visengine service
// publishes (GET /visure/{hash}: campi, validazione, opzioni, prices) and
// checks submissions against it before anything is sent upstream.
//
// Contract:
//
//   - Parse and Compile turn a schema answer into a *Service. They never
//     panic; a schema that cannot be used (a validazione that does not
//     parse, a campi key that is not $N, a rule naming a field that does not
//     exist) is a *SchemaError naming the place.
//   - Service.Validate reports every problem of an input at once, as a
//     *ValidationError of Problems with stable machine codes (see the Code
//     constants), or returns the exact json_visura, opzioni and price to
//     send. Messages never repeat field values: they are safe to log.
//   - The validazione rule is compiled once per schema into a disjunction of
//     field sets; evaluating it allocates nothing.
//   - Files are inline ("name|data:<mime>;base64,<data>") or references to
//     JetStream Object Store objects ("[name|]nats-os://<bucket>/<object>"),
//     which ResolveFiles turns into the inline form just before submission.
//   - Cache serves schemas from memory, then a JetStream KV bucket shared by
//     every replica, then the upstream; concurrent misses make one upstream
//     call; expired entries are served (and the failure logged) while the
//     upstream is down.
//
// See docs/schema.md for the error codes, the file-reference syntax and the
// benchmark numbers.
package schema
