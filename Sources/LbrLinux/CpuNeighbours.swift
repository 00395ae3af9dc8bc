// Other users of a probed CPU that the kernel shows: processes holding a KVM VM
// (`anon_inode:kvm-vm` fds) with a thread allowed on the CPU, and processes holding perf events
// (`anon_inode:[perf_event]` fds; the kernel does not show their attributes, so whether they sample branch
// stacks is unknown). Read from /proc; processes that cannot be inspected are skipped.

import LbrCore
#if canImport(Glibc)
import Glibc
#endif

public enum CpuNeighbours {
    public struct Holder: Hashable, Sendable, CustomStringConvertible {
        public var pid: Int32
        public var comm: String
        public var count: Int
        public var description: String { "pid \(pid) (\(comm)): \(count)" }
    }

    /// (KVM VM holders with a thread allowed on `cpu`, perf event holders), excluding this process; from the one
    /// /proc fd walk of `KvmVmScan.scan`.
    public static func scan(cpu: Int) -> (kvmVms: [Holder], perfEvents: [Holder]) {
        var vms: [Holder] = [], perf: [Holder] = []
        for o in KvmVmScan.scan() {
            let comm = o.command ?? "?"
            if o.vms > 0, mayRunOn(pid: o.pid, cpu: cpu) { vms.append(Holder(pid: o.pid, comm: comm, count: o.vms)) }
            if o.perfEvents > 0 { perf.append(Holder(pid: o.pid, comm: comm, count: o.perfEvents)) }
        }
        return (vms, perf)
    }

    /// Whether any thread of `pid` may run on `cpu` (Cpus_allowed_list of its threads).
    static func mayRunOn(pid: Int32, cpu: Int) -> Bool {
        guard let tasks = opendir("/proc/\(pid)/task") else { return true }
        defer { closedir(tasks) }
        while let t = readdir(tasks) {
            // SAFETY: `t` is the entry readdir just returned (valid until the next readdir); d_name is NUL-terminated.
            let tid = withUnsafePointer(to: t.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            guard Int(tid) != nil, let status = Sysfs().raw("/proc/\(pid)/task/\(tid)/status").value else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
                let list = line.dropFirst("Cpus_allowed_list:".count).trimmingSpaces
                if KernelText.cpuList(String(list))?.contains(cpu) ?? true { return true }
            }
        }
        return false
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}
