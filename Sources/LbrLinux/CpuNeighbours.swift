// Other users of a probed CPU that the kernel shows (issue 11): processes holding a KVM VM
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

    /// (KVM VM holders with a thread allowed on `cpu`, perf event holders), excluding this process.
    public static func scan(cpu: Int) -> (kvmVms: [Holder], perfEvents: [Holder]) {
        var vms: [Holder] = [], perf: [Holder] = []
        let me = getpid()
        guard let dir = opendir("/proc") else { return ([], []) }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            guard let pid = Int32(name), pid != me else { continue }
            var nVm = 0, nPerf = 0
            if let fds = opendir("/proc/\(pid)/fd") {
                while let f = readdir(fds) {
                    let fd = withUnsafePointer(to: f.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                    guard Int(fd) != nil else { continue }
                    var buf = [CChar](repeating: 0, count: 64)
                    let n = readlink("/proc/\(pid)/fd/\(fd)", &buf, 63)
                    guard n > 0 else { continue }
                    let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if target == "anon_inode:kvm-vm" { nVm += 1 } else if target == "anon_inode:[perf_event]" { nPerf += 1 }
                }
                closedir(fds)
            }
            guard nVm + nPerf > 0 else { continue }
            let comm = (Sysfs().raw("/proc/\(pid)/comm").value ?? "?").split(separator: "\n").first.map(String.init) ?? "?"
            if nVm > 0, mayRunOn(pid: pid, cpu: cpu) { vms.append(Holder(pid: pid, comm: comm, count: nVm)) }
            if nPerf > 0 { perf.append(Holder(pid: pid, comm: comm, count: nPerf)) }
        }
        return (vms.sorted { $0.pid < $1.pid }, perf.sorted { $0.pid < $1.pid })
    }

    /// Whether any thread of `pid` may run on `cpu` (Cpus_allowed_list of its threads).
    static func mayRunOn(pid: Int32, cpu: Int) -> Bool {
        guard let tasks = opendir("/proc/\(pid)/task") else { return true }
        defer { closedir(tasks) }
        while let t = readdir(tasks) {
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
