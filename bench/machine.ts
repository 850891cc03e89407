import * as os from "node:os";

/** The machine a benchmark ran on, as its report's first line gives it. */
export function machine(): string {
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    const gib = (bytes: number) => `${Math.round(bytes / 2 ** 30)} GiB`;
    return `${os.availableParallelism()} CPUs (${cpu}), ${gib(os.totalmem())} RAM, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** The 1-, 5- and 15-minute load averages: how busy the machine was while measuring. */
export const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(", ");
