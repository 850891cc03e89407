/**
 * registry-access: one namespace's authenticated access to private container registries,
 * declared from this stack's config (see README.md for the keys).
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, fromPulumiConfig, validateStackConfig } from "./components/config";
import { RegistryAccess } from "./components/registryAccess";

/** The validated config, or a RunError listing every problem (Pulumi prints it without a stack trace). */
function loadStackConfig() {
    try {
        return validateStackConfig(fromPulumiConfig(pulumi.runtime.allConfig()));
    } catch (err) {
        throw err instanceof ConfigError ? new pulumi.RunError(err.message) : err;
    }
}

const config = loadStackConfig();

const access = new RegistryAccess(config.namespace, {
    namespace: config.namespace,
    createNamespace: config.createNamespace,
    // Passwords become secrets here, the moment they leave the validated config.
    registries: config.registries.map((r) => ({ ...r, password: pulumi.secret(r.password) })),
    // Per stack, so two stacks patching one ServiceAccount conflict visibly instead of
    // silently overwriting each other's list.
    fieldManager: `registry-access-${pulumi.getStack()}`,
});

export const namespace = access.namespace;
export const pullSecretNames = access.pullSecretNames;
export const serviceAccounts = access.serviceAccounts;
