// pulumi-tfgen-random writes the provider's schema.json and bridge-metadata.json at build time:
//
//	pulumi-tfgen-random schema --out cmd/pulumi-resource-random
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"registry-access/toolchain/pulumi-random/provider"
)

func main() {
	tfgen.Main("random", provider.Provider(nil))
}
