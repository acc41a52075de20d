package schema

import _ "embed"

// JSON is the JSON Schema of the pipeline file for the builders and
// provisioners pipe ships, as Generate writes it. It is generated into
// pipe.schema.json and kept current by cmd/pipe's TestSchemaUpToDate
// (go test ./cmd/pipe -run TestSchemaUpToDate -update).
//
//go:embed pipe.schema.json
var JSON []byte
