// pulumi-resource-random serves the Terraform random provider to the Pulumi engine. The two files
// it embeds are not committed: pulumi-tfgen-random writes them here before this is built.
package main

import (
	"context"
	_ "embed"
	"encoding/json"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/contract"

	"registry-access/toolchain/pulumi-random/provider"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	pf.Main(context.Background(), "random", provider.Provider(metadata),
		pf.ProviderMetadata{PackageSchema: withVersion(schema, provider.Version)})
}

// withVersion sets the schema's version, which tfgen leaves out (the release sets it the same way,
// after tfgen).
func withVersion(schema []byte, version string) []byte {
	var spec map[string]json.RawMessage
	contract.AssertNoErrorf(json.Unmarshal(schema, &spec), "embedded schema.json")
	v, err := json.Marshal(version)
	contract.AssertNoErrorf(err, "version")
	spec["version"] = v
	out, err := json.Marshal(spec)
	contract.AssertNoErrorf(err, "schema with version")
	return out
}
