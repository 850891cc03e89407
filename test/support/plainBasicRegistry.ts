import * as http from "node:http";
import type * as net from "node:net";
import { basicAuth } from "../../components/dockerConfig";

/**
 * Plain HTTP stand-in (no TLS registry is run for this case): answers `/v2/` like a registry
 * with Basic auth, 401 plus challenge unless the credentials match.
 */
export async function plainBasicRegistry(username: string, password: string): Promise<{ host: string; requests: number; close(): Promise<void> }> {
    const expected = `Basic ${basicAuth(username, password)}`;
    const state = { host: "", requests: 0, close: async () => {} };
    const server = http.createServer((req, res) => {
        state.requests++;
        if (req.headers.authorization === expected) {
            res.writeHead(200, { "content-type": "application/json" }).end("{}");
        } else {
            res.writeHead(401, { "www-authenticate": 'Basic realm="plain"' }).end();
        }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    state.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    state.close = () =>
        new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
        });
    return state;
}
