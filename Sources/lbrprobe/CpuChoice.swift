// `--cpu`: checked up front against the online CPUs and the CPUs this process may run on
// (sched_getaffinity, which a cpuset/cgroup or taskset narrows), naming the cpuset when that is the reason;
// and the per-CPU probe lock (LbrLinux.CpuLock) for the backends that put a guest on the CPU.

import ArgumentParser
import CLbrShim
import Foundation
import LbrCore
import LbrLinux
import LbrScenarios

enum CpuChoice {
    /// Why `cpu` is not allowed: the cpuset (cgroup) of this process when its CPU list excludes it, else the
    /// affinity narrowed some other way (taskset, sched_setaffinity by a parent).
    static func whyNotAllowed(_ cpu: Int) -> String {
        guard let (name, cpus) = cpuset() else { return "" }
        if let list = KernelText.cpuList(cpus), !list.contains(cpu) {
            return "; the reason is the \(name), which allows CPUs \(cpus) only"
        }
        return "; the \(name) allows CPUs \(cpus), so the affinity was narrowed otherwise (taskset, sched_setaffinity)"
    }

    /// The cpuset (cgroup) of this process and its CPU list, when they can be read.
    static func cpuset() -> (String, String)? {
        // cgroup v2: "0::/path"; cpuset.cpus.effective in the unified hierarchy.
        if let cg = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) {
            for line in cg.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count == 3 else { continue }
                let path = String(parts[2])
                if parts[0] == "0", parts[1].isEmpty,
                   let cpus = try? String(contentsOfFile: "/sys/fs/cgroup\(path)/cpuset.cpus.effective", encoding: .utf8) {
                    return ("cpuset \(path) (cgroup v2 cpuset.cpus.effective)", cpus.trimmingCharacters(in: .whitespacesAndNewlines))
                }
                if parts[1].split(separator: ",").contains("cpuset"),
                   let cpus = try? String(contentsOfFile: "/sys/fs/cgroup/cpuset\(path)/cpuset.cpus", encoding: .utf8) {
                    return ("cpuset \(path) (cgroup v1 cpuset.cpus)", cpus.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
        }
        return nil
    }

    /// The online CPUs (/sys/devices/system/cpu/online), nil when unreadable: for checking --cpu while the
    /// command line is validated, so a bad CPU gets the subcommand's usage.
    static func onlineCpus() -> [Int]? {
        guard let s = try? String(contentsOfFile: "/sys/devices/system/cpu/online", encoding: .utf8) else { return nil }
        return KernelText.cpuList(s.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The CPU to probe: `requested` if it is online and allowed (else a usage error naming why), or the first
    /// online CPU this process may run on.
    static func resolve(requested: Int?, online: [Int]?) throws -> Int {
        let allowed = CpuAffinity.allowed()   // the main thread's mask, before any thread exists
        guard let requested else {
            let candidates = (online ?? allowed).sorted()
            return candidates.first { allowed.contains($0) } ?? candidates.first ?? 0
        }
        if let online, !online.contains(requested) {
            throw ValidationError("--cpu \(requested) is not an online CPU (online: \(KernelText.formatCpuList(online)))")
        }
        if !allowed.isEmpty, !allowed.contains(requested) {
            throw ValidationError("--cpu \(requested) is not in the CPUs this process may run on (sched_getaffinity: \(KernelText.formatCpuList(allowed))\(whyNotAllowed(requested))); the vCPU and the contenders could not be pinned there")
        }
        return requested
    }

    /// Takes the per-CPU probe lock for backends that put a guest or perf events on the CPU (hybrid, hw); nil
    /// for sim. Busy: exit 75 with the holder's pid, or with `wait` wait for it (a signal stops waiting: nil,
    /// and the caller's runner reports every run as not started). A lock that cannot be created: exit 73.
    /// `noteNeighbours`: say on stderr which other users of the CPU the kernel shows (a command that locks the
    /// CPU once per model says it once).
    static func lock(cpu: Int, backend: BackendKind, wait: Bool, noteNeighbours: Bool = true) throws -> CpuLock? {
        guard backend != .sim else { return nil }
        let dir = CpuLock.lockDirectory(environment: ProcessInfo.processInfo.environment)
        defer {
            // Other users of the CPU the kernel shows: said on stderr; on hw they can disturb the LBRs.
            let n: (kvmVms: [CpuNeighbours.Holder], perfEvents: [CpuNeighbours.Holder]) = noteNeighbours ? CpuNeighbours.scan(cpu: cpu) : ([], [])
            if !n.kvmVms.isEmpty || !n.perfEvents.isEmpty {
                var parts: [String] = []
                if !n.kvmVms.isEmpty { parts.append("KVM VMs with a thread allowed on CPU \(cpu): " + n.kvmVms.map { "\($0)" }.joined(separator: ", ")) }
                if !n.perfEvents.isEmpty { parts.append("perf event holders (attributes not visible, may use LBR): " + n.perfEvents.map { "\($0)" }.joined(separator: ", ")) }
                printError("lbrprobe: note: other users of CPU \(cpu)\(backend == .hw ? " (they may share its LBRs)" : ""): " + parts.joined(separator: "; "))
            }
        }
        do {
            return try CpuLock.acquire(cpu: cpu, directory: dir, wait: wait, waiting: { holder in
                printError("lbrprobe: CPU \(cpu) is being probed by another lbrprobe (\(holder.map { "pid \($0)" } ?? "pid unknown"), lock \(CpuLock.path(cpu: cpu, directory: dir))); --wait: waiting for it")
            }, stop: { Run.interruption() != nil })
        } catch {
            switch error {
            case .busy:
                printError("Error: \(error)")
                throw ExitCode(LbrExitCode.tempFail.rawValue)
            case .interrupted:
                // Like any interruption: the runner sees the signal before the first run, so the report
                // says every run was not started (nothing touches the CPU without the lock).
                printError("lbrprobe: \(error)")
                return nil
            case .noDirectory:
                printError("Error: \(error)")
                throw ExitCode(LbrExitCode.cannotCreate.rawValue)
            case .failed:
                printError("Error: \(error)")
                throw ExitCode(LbrExitCode.cannotCreate.rawValue)
            }
        }
    }
}
