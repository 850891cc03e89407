/**
 * The cloud registries' credential conventions (components/names.ts, cloudUsernameProblem), called
 * directly: which hosts count as ECR, Artifact Registry / GCR and ACR, and each rule's message and
 * fix as a user reads them. Through the config, see config.tenants.test.ts.
 */
import * as assert from "node:assert/strict";
import { cloudUsernameProblem } from "../components/names";

const ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const KEY = JSON.stringify({ type: "service_account", private_key: "-----BEGIN PRIVATE KEY-----" });
const CLIENT_ID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

describe("cloud registries' credential conventions", () => {
    it("knows the clouds by host, with scheme, port and path ignored", () => {
        for (const server of [
            ECR,
            "https://210987654321.dkr.ecr-fips.cn-north-1.amazonaws.com.cn/",
            "gcr.io",
            "https://eu.gcr.io/project",
            "europe-west1-docker.pkg.dev/proj/repo",
            "myreg.azurecr.io:443",
            "myreg.azurecr.cn",
            "myreg.azurecr.us",
        ]) {
            assert.notEqual(cloudUsernameProblem(server, "not_a_cloud@user", "pw", false), undefined, server);
        }
    });

    it("leaves look-alike hosts alone: the cloud's name inside or at the start of another host", () => {
        for (const server of [
            "gcr.io.example.org",
            "mirror-gcr.io",
            "europe-west1-docker.pkg.dev.example.org",
            "mirror.europe-west1-docker.pkg.dev.example.org",
            "myreg.azurecr.io.example.org",
            "team.myreg.azurecr.io",
            "my-reg.azurecr.io",
            "x123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com.example.org",
            "12345678901.dkr.ecr.eu-west-1.amazonaws.com",
            "registry.example.org",
        ]) {
            assert.equal(cloudUsernameProblem(server, "not_a_cloud@user", "pw", false), undefined, server);
        }
    });

    it("ECR: username AWS, with the token's 12-hour life in the fix", () => {
        assert.deepEqual(cloudUsernameProblem(ECR, "admin", "pw", false), {
            key: "username",
            message: "must be AWS for Amazon ECR",
            fix: "set username AWS and the password from `aws ecr get-login-password` (it expires after 12 hours)",
        });
        assert.equal(cloudUsernameProblem(ECR, "AWS", "token", false), undefined);
    });

    it("Artifact Registry and GCR: one of Google's usernames", () => {
        assert.deepEqual(cloudUsernameProblem("gcr.io", "me", "pw", false), {
            key: "username",
            message: "must be one of _json_key, _json_key_base64, oauth2accesstoken for Artifact Registry / GCR",
            fix: "set username _json_key and the service account's JSON key file as the password",
        });
        for (const username of ["_json_key_base64", "oauth2accesstoken"]) {
            assert.equal(cloudUsernameProblem("gcr.io", username, "not json at all", false), undefined, username);
        }
    });

    it("_json_key: the password must be the whole service account key", () => {
        const expected = {
            key: "password",
            message: "is not a service account JSON key (username _json_key expects the whole key file)",
            fix: 'pulumi config set --secret --path "<entry>.password" -- "$(cat key.json)"',
        };
        for (const password of [
            "not json",
            JSON.stringify({ type: "authorized_user", private_key: "k" }),
            JSON.stringify({ type: "service_account" }),
            JSON.stringify({ type: "service_account", private_key: 42 }),
            "null",
        ]) {
            assert.deepEqual(cloudUsernameProblem("europe-west1-docker.pkg.dev", "_json_key", password, false), expected, password);
        }
        assert.equal(cloudUsernameProblem("europe-west1-docker.pkg.dev", "_json_key", KEY, false), undefined);
        // Without a password (one given as an Output is checked elsewhere) there is nothing to read.
        assert.equal(cloudUsernameProblem("gcr.io", "_json_key", undefined, false), undefined);
    });

    it("ACR: a service principal's client id, a repository-scoped token's name, or the registry's own name for the admin user", () => {
        assert.deepEqual(cloudUsernameProblem("myreg.azurecr.io", "someone@myreg.onmicrosoft.com", "pw", false), {
            key: "username",
            message: "must be a service principal's client id (a GUID), a token's name or the admin user 'myreg' for Azure Container Registry",
            fix: "set the service principal's appId, the token's name or the admin user as username, and its secret as password",
        });
        // A token's name (az acr token create -n xnat-pull) logs in as itself.
        for (const username of [CLIENT_ID, CLIENT_ID.toUpperCase(), "myreg", "MyReg", "xnat-pull"]) {
            assert.equal(cloudUsernameProblem("myreg.azurecr.io", username, "pw", false), undefined, username);
        }
        // Not a name ACR issues.
        for (const username of ["someone@example.org", "_json_key", "DOMAIN\\user", "-leading"]) {
            assert.notEqual(cloudUsernameProblem("myreg.azurecr.io", username, "pw", false), undefined, username);
        }
    });

    it("no cloud takes a generated password, and a missing username is left to the schema", () => {
        for (const [server, cloud] of [
            [ECR, "ECR"],
            ["gcr.io", "Google"],
            ["myreg.azurecr.io", "ACR"],
        ]) {
            assert.deepEqual(cloudUsernameProblem(server, undefined, undefined, true), {
                key: "generatePassword",
                message: `cannot be used with ${cloud}: the cloud issues the credential`,
                fix: "set the username and password the cloud issued (docs/registries.md, Cloud registries)",
            });
            assert.equal(cloudUsernameProblem(server, undefined, "pw", false), undefined, server);
        }
        assert.equal(cloudUsernameProblem("registry.example.org", undefined, undefined, true), undefined);
    });
});
