// pulumi-resource-random serves the Terraform random provider to the Pulumi engine. The two files
// it embeds are not committed: pulumi-tfgen-random writes them here before this is built.
package main

import (
	"context"
	_ "embed"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"registry-access/toolchain/pulumi-random/provider"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	pf.Main(context.Background(), "random", provider.Provider(metadata), pf.ProviderMetadata{PackageSchema: schema})
}
