// Package provider maps the Terraform random provider's resources onto the Pulumi names that
// @pulumi/random 4.21.2 sends (its tokens and camelCase properties), through the bridge.
package provider

import (
	"context"
	"fmt"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Version is set by the linker (-X) to the release of @pulumi/random in package-lock.json.
var Version string

// resources: Terraform type name -> Pulumi type name, each in module "index". Listed, not derived,
// so that a Terraform resource the SDK does not know fails tfgen instead of appearing silently.
var resources = map[string]string{
	"random_bytes":    "RandomBytes",
	"random_id":       "RandomId",
	"random_integer":  "RandomInteger",
	"random_password": "RandomPassword",
	"random_pet":      "RandomPet",
	"random_shuffle":  "RandomShuffle",
	"random_string":   "RandomString",
	"random_uuid":     "RandomUuid",
	"random_uuid4":    "RandomUuid4",
	"random_uuid7":    "RandomUuid7",
}

// Provider is the bridge's description of the provider. metadata is the bridge-metadata.json
// that tfgen wrote (nil when tfgen itself runs: it is what tfgen produces).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(shim.NewProvider()),
		Name:         "random",
		Version:      Version,
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		License:      "Apache-2.0",
		Repository:   "https://github.com/pulumi/pulumi-random",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Resources:    map[string]*tfbridge.ResourceInfo{},
		// As the release plugin: previews computed the way an update would, and state kept raw.
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	for tf, name := range resources {
		info.Resources[tf] = &tfbridge.ResourceInfo{Tok: tfbridge.MakeResource("random", "index", name)}
	}
	// Already sensitive in Terraform's schema, so secret anyway; said here so that it stays so.
	info.Resources["random_password"].Fields = map[string]*tfbridge.SchemaInfo{
		"result":      {Secret: tfbridge.True()},
		"bcrypt_hash": {Secret: tfbridge.True()},
	}
	// random_bytes has no id attribute; the release plugin uses its base64 value.
	info.Resources["random_bytes"].ComputeID = bytesID
	return info
}

func bytesID(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	v := state["base64"]
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return "", fmt.Errorf("random_bytes: no base64 string in state to use as id")
	}
	return resource.ID(v.StringValue()), nil
}
