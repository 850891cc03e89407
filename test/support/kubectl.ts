import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { DockerCredential } from "../../components/dockerConfig";

const run = promisify(execFile);

/**
 * The `.dockerconfigjson` bytes kubectl itself writes for a credential: the oracle the program
 * must match. No cluster is involved (`--dry-run=client`). A missing kubectl fails the test.
 */
export async function kubectlDockerConfig(cred: DockerCredential): Promise<Buffer> {
    const args = [
        "create",
        "secret",
        "docker-registry",
        "oracle",
        `--docker-server=${cred.server}`,
        `--docker-username=${cred.username}`,
        `--docker-password=${cred.password}`,
        ...(cred.email ? [`--docker-email=${cred.email}`] : []),
        "--dry-run=client",
        "-o",
        "json",
    ];
    let stdout: string;
    try {
        ({ stdout } = await run("kubectl", args, { env: { ...process.env, KUBECONFIG: "/dev/null" } }));
    } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === "ENOENT") {
            throw new Error("kubectl is not installed: it is the oracle for .dockerconfigjson (apt-get install kubernetes-client)");
        }
        throw new Error(`kubectl create secret docker-registry failed (exit ${String(e.code)})`);
    }
    const secret = JSON.parse(stdout) as { type: string; data: Record<string, string> };
    if (secret.type !== "kubernetes.io/dockerconfigjson") {
        throw new Error(`kubectl wrote a Secret of type ${secret.type}`);
    }
    return Buffer.from(secret.data[".dockerconfigjson"], "base64");
}
