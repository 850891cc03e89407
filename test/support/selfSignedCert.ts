import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** A throwaway self-signed certificate for 127.0.0.1, made by openssl, for HTTPS stand-ins. */
export function selfSignedCert(): { key: string; cert: string } {
    const dir = mkdtempSync(path.join(tmpdir(), "registry-access-tls-"));
    try {
        const key = path.join(dir, "key.pem");
        const cert = path.join(dir, "cert.pem");
        execFileSync("openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ], { stdio: "pipe" });
        return { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}
