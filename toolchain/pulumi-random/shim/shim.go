// Package shim exists because Go lets only packages under the Terraform provider's module path
// import its internal/provider, where the resources are: this path is under it, the wrapper
// reaches it through a replace.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	tfrandom "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider is the Terraform plugin-framework provider the bridge serves.
func NewProvider() provider.Provider { return tfrandom.New() }
