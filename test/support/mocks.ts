import { createHash } from "node:crypto";
import { hashSync } from "bcryptjs";

/**
 * What the mocked providers return as a resource's state: its inputs, plus what a provider
 * computes. For random.RandomPassword that is `result` and `bcryptHash`, derived from the
 * resource name and keepers so that a keeper change yields a new password, as the real provider
 * replaces the resource. bcrypt cost 4 keeps the mocks fast; the provider uses 10.
 */
export function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    if (type === "random:index/randomPassword:RandomPassword") {
        const seed = createHash("sha256").update(JSON.stringify([name, inputs.keepers])).digest("base64url");
        const result = seed.replace(/[^A-Za-z0-9]/g, "").padEnd(72, "0").slice(0, Number(inputs.length));
        return { ...inputs, result, bcryptHash: hashSync(result, 4) };
    }
    if (type === "kubernetes:core/v1:Secret" && inputs.type === "kubernetes.io/service-account-token") {
        // What the token controller writes into the Secret, derived from its name like a new token.
        return { ...inputs, data: mockTokenData(String((inputs.metadata as { name?: string })?.name)) };
    }
    return inputs;
}

/** The `data` of a filled service-account-token Secret: token, ca.crt and namespace, base64. */
export function mockTokenData(secretName: string): Record<string, string> {
    const token = `eyJ.mock-token.${createHash("sha256").update(secretName).digest("base64url")}`;
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    return { token: b64(token), "ca.crt": b64("-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"), namespace: b64("mock") };
}
