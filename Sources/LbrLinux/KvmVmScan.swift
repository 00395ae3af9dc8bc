import LbrCore
#if canImport(Glibc)
import Glibc
#endif

/// Other KVM VMs running on this host — whose vCPUs print the same "vcpu-N: fail to passthrough LBR." line as
/// lbrprobe's own (docs/reference.md §9.4).
///
/// Two sources, both what the kernel itself shows: every VM fd is an anon inode that readlink(2) renders as
/// "anon_inode:kvm-vm" (`kvm_dev_ioctl_create_vm` → `anon_inode_getfile("kvm-vm", …)`, virt/kvm/kvm_main.c) and
/// every vCPU fd as "anon_inode:kvm-vcpu:N" (`create_vcpu_fd`), so /proc/<pid>/fd lists them; and, when debugfs
/// is mounted, `kvm_create_vm_debugfs` adds /sys/kernel/debug/kvm/<pid>-<fd> per VM.
public struct KvmVmOwner: Hashable, Sendable, Codable, CustomStringConvertible {
    public var pid: Int32
    /// /proc/<pid>/comm, if readable.
    public var command: String?
    /// VM fds this process holds (0 when only debugfs showed the VM).
    public var vms: Int
    /// vCPU fds this process holds.
    public var vcpus: Int
    /// perf event fds this process holds (`anon_inode:[perf_event]`; their attributes are not visible, so whether
    /// they sample branch stacks is unknown).
    public var perfEvents: Int = 0
    public var description: String {
        "pid \(pid)\(command.map { " (\($0))" } ?? ""): \(vms) VM fd(s), \(vcpus) vCPU fd(s)"
    }
}

public enum KvmVmScan {
    /// readlink text of a KVM VM fd.
    public static let vmLink = "anon_inode:kvm-vm"
    /// readlink prefix of a KVM vCPU fd.
    public static let vcpuLinkPrefix = "anon_inode:kvm-vcpu:"
    /// readlink text of a perf event fd (`perf_event_open` → `anon_inode_getfile("[perf_event]", …)`).
    public static let perfEventLink = "anon_inode:[perf_event]"

    /// Processes other than `excludingPid` that hold KVM VM fds (from /proc), plus VMs debugfs lists for pids
    /// not seen there. Unreadable processes are skipped (as root none are).
    public static func owners(excludingPid: Int32 = getpid(), proc: String = "/proc",
                              debugfsKvm: String = "/sys/kernel/debug/kvm") -> [KvmVmOwner] {
        scan(excludingPid: excludingPid, proc: proc, debugfsKvm: debugfsKvm).filter { $0.vms > 0 || $0.vcpus > 0 || $0.perfEvents == 0 }
    }

    /// Every process other than `excludingPid` holding KVM VM, vCPU or perf event fds (one walk of /proc/*/fd),
    /// plus VMs only debugfs lists. The one /proc scan behind `owners` and `CpuNeighbours`.
    public static func scan(excludingPid: Int32 = getpid(), proc: String = "/proc",
                            debugfsKvm: String = "/sys/kernel/debug/kvm") -> [KvmVmOwner] {
        var out: [Int32: KvmVmOwner] = [:]
        for name in listDir(proc) {
            guard let pid = Int32(name), pid != excludingPid else { continue }
            var vms = 0, vcpus = 0, perf = 0
            for fd in listDir("\(proc)/\(name)/fd") {
                guard let link = readLink("\(proc)/\(name)/fd/\(fd)") else { continue }
                if link == vmLink { vms += 1 } else if link.hasPrefix(vcpuLinkPrefix) { vcpus += 1 }
                else if link == perfEventLink { perf += 1 }
            }
            if vms > 0 || vcpus > 0 || perf > 0 {
                out[pid] = KvmVmOwner(pid: pid, command: comm(proc, name), vms: vms, vcpus: vcpus, perfEvents: perf)
            }
        }
        for entry in listDir(debugfsKvm) {
            // "<pid>-<fd>" per VM.
            let parts = entry.split(separator: "-")
            guard parts.count == 2, let pid = Int32(parts[0]), Int(parts[1]) != nil, pid != excludingPid,
                  out[pid] == nil else { continue }
            out[pid] = KvmVmOwner(pid: pid, command: comm(proc, String(pid)), vms: 0, vcpus: 0)
        }
        return out.values.sorted { $0.pid < $1.pid }
    }

    static func listDir(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            // SAFETY: `e` is the entry readdir just returned (valid until the next readdir); d_name is read as bytes.
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func comm(_ proc: String, _ pid: String) -> String? {
        guard let f = fopen("\(proc)/\(pid)/comm", "r") else { return nil }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 64)
        guard fgets(&buf, Int32(buf.count), f) != nil else { return nil }
        let s = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return s.hasSuffix("\n") ? String(s.dropLast()) : s
    }
}
