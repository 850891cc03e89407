/**
 * Runs a command and measures its whole process tree: wall time, CPU time (user + system) and
 * peak memory. Linux only (/proc).
 *
 * - CPU: the command runs under `bash -c '...; times'`. bash's `times` prints the user and system
 *   time of its waited children, which the kernel accumulates over every descendant that was
 *   waited for (node waits for pulumi, pulumi for its plugins, bash for each kubectl).
 * - Memory: every SAMPLE_MS the tree is walked from the wrapper through
 *   /proc/PID/task/TID/children (every thread: Go starts processes from any thread), and the
 *   resident pages of each process (/proc/PID/statm) are summed. The peak of that sum is reported,
 *   so shared pages count once per process, and a process living less than SAMPLE_MS may be missed.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export const SAMPLE_MS = 50;
const PAGE_BYTES = 4096;

export interface TreeRun {
    wallMs: number;
    cpuMs: number;
    peakRssMb: number;
    /** Wall-clock time (ms since the epoch) when the command was spawned. */
    spawnedAt: number;
    code: number;
    output: string;
}

function read(file: string): string | undefined {
    try {
        return readFileSync(file, "utf8");
    } catch {
        return undefined; // the process exited between two reads
    }
}

function children(pid: number): number[] {
    let tasks: string[];
    try {
        tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
        return [];
    }
    return tasks.flatMap((tid) => (read(`/proc/${pid}/task/${tid}/children`) ?? "").split(" ").filter(Boolean).map(Number));
}

/** Resident bytes summed over PID and its descendants. */
export function treeRssBytes(pid: number): number {
    let total = 0;
    const todo = [pid];
    for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
        const statm = read(`/proc/${p}/statm`);
        if (statm) {
            total += Number(statm.split(" ")[1]) * PAGE_BYTES;
        }
        todo.push(...children(p));
    }
    return total;
}

/** User + system CPU of a process so far, in ms (fields 14 and 15 of /proc/PID/stat, in clock ticks). */
export function processCpuMs(pid: number): number {
    const stat = read(`/proc/${pid}/stat`);
    if (!stat) {
        return NaN;
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields after the command name start at field 3; 100 ticks per second on Linux.
    return (Number(fields[11]) + Number(fields[12])) * 10;
}

// `times` prints two lines: the shell's own times, then its children's ("0m1.234s 0m0.567s").
const WRAPPER = '"$@" 3>&-; rc=$?; times >&3; exit "$rc"';

/** Runs COMMAND ARGS... and measures its process tree; output is stdout and stderr together. */
export function runTree(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<TreeRun> {
    return new Promise((resolve, reject) => {
        const spawnedAt = Date.now();
        const started = process.hrtime.bigint();
        const child = spawn("bash", ["-c", WRAPPER, "tree", command, ...args], {
            env: opts.env ?? process.env,
            cwd: opts.cwd,
            stdio: ["ignore", "pipe", "pipe", "pipe"],
        });
        let output = "";
        let times = "";
        let peak = 0;
        let wallMs = 0;
        child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
        child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
        (child.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => (times += d.toString()));
        const sample = () => {
            if (child.pid) {
                peak = Math.max(peak, treeRssBytes(child.pid));
            }
        };
        const timer = setInterval(sample, SAMPLE_MS);
        sample();
        child.on("error", (err) => {
            clearInterval(timer);
            reject(err);
        });
        child.on("exit", () => {
            wallMs = Number(process.hrtime.bigint() - started) / 1e6;
            clearInterval(timer);
        });
        // "close" comes after "exit" and after the pipes have drained, so `times` is complete.
        child.on("close", (code) => {
            const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(times.trim().split("\n")[1] ?? "");
            if (!m) {
                reject(new Error(`${command}: no CPU times from the wrapper (got ${JSON.stringify(times)}):\n${output}`));
                return;
            }
            const cpuMs = (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
            resolve({ wallMs, cpuMs, peakRssMb: peak / 2 ** 20, spawnedAt, code: code ?? 1, output });
        });
    });
}
