import Foundation
import PaystreamTesting
import Testing

/// `Deploy/install.sh` into a staging root (`--destdir`), with the binaries of this build: what it
/// installs where, with which modes; run again it changes nothing, and it never overwrites a
/// configuration file the operator edited.
@Suite("install script")
struct InstallScriptTests {
    static func install(_ destination: String, _ extra: [String] = []) throws -> (status: Int32, output: String) {
        try runTool("/bin/bash", [packageRoot.appendingPathComponent("Deploy/install.sh").path, "--destdir", destination, "--no-build",
                                  "--bin-dir", try productsDirectory().path] + extra)
    }

    static func listing(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(root)/\(path)")
            let mode = String((attributes[.posixPermissions] as? Int ?? 0), radix: 8)
            let size = attributes[.size] as? Int ?? 0
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            result[path] = "\(mode) \((attributes[.type] as? FileAttributeType) == .typeDirectory ? "dir" : "\(size) \(modified)")"
        }
        return result
    }

    @Test("binaries with librdkafka beside them (not in the checkout), units (paths rewritten), configuration, a secret folder per daemon (0700), paystream.env 0600, the network drop-in and the runbook; a second run changes nothing; an edited config is kept, the shipped one put beside it")
    func stagingRoot() throws {
        let root = try temporaryDirectory("install")
        // The staged binaries are most of a gigabyte: not left behind.
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try Self.install(root, ["--prefix", "/opt/paystream", "--sysconfdir", "/etc/ps", "--allow-ip", "10.1.0.0/24",
                                            "--allow-ip", "10.1.9.5"])
        #expect(first.status == 0, "\(first.output)")
        let files = try Self.listing(root)
        for exe in ["payment-worker", "settlement-worker", "notifier", "reconciler", "channel-sandbox", "channel-gateway", "paystream"] {
            #expect(files["opt/paystream/bin/\(exe)"]?.hasPrefix("755 ") == true, "\(exe)")
        }
        // Secrets: a folder per daemon, root only; the shared environment file 0600.
        for daemon in ["payment-worker", "settlement-worker", "notifier", "reconciler", "channel-sandbox", "channel-gateway"] {
            #expect(files["etc/ps/\(daemon)"] == "700 dir" && files["etc/ps/\(daemon)/kafka"] == "700 dir", "\(daemon)")
        }
        #expect(files["etc/ps/notifier/webhooks"] == "700 dir" && files["etc/ps/channel-gateway/channels"] == "700 dir")
        #expect(files["etc/ps/paystream.env"]?.hasPrefix("600 ") == true, "\(files["etc/ps/paystream.env"] ?? "")")
        // librdkafka beside the binaries, found through $ORIGIN and not through this checkout.
        #expect(files["opt/paystream/lib/paystream/librdkafka.so.1"]?.hasPrefix("644 ") == true)
        for exe in ["payment-worker", "paystream"] {
            let dynamic = try runTool("/usr/bin/readelf", ["-d", "\(root)/opt/paystream/bin/\(exe)"])
            #expect(dynamic.output.contains("Library runpath: [$ORIGIN/../lib/paystream]"), "\(exe): \(dynamic.output.prefix(2000))")
            #expect(!dynamic.output.contains(packageRoot.path), "\(exe) still looks in the checkout")
            let libraries = try runTool("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", "/usr/bin/ldd", "\(root)/opt/paystream/bin/\(exe)"])
            #expect(libraries.output.contains("librdkafka.so.1 => \(root)/opt/paystream/bin/../lib/paystream/librdkafka.so.1"),
                    "\(exe): \(libraries.output)")
        }
        // The network drop-in every unit reads.
        let network = try String(contentsOfFile: "\(root)/etc/systemd/system/paystream-.service.d/network.conf", encoding: .utf8)
        #expect(network.contains("[Service]\nIPAddressAllow=10.1.0.0/24 10.1.9.5\n"), "\(network)")
        #expect(files["etc/ps/notifier.yaml"] != nil && files["etc/ps/notification-templates.yaml"] != nil
                && files["etc/ps/payment-policy.json"] != nil && files["etc/ps/paystream.env"] != nil)
        #expect(files["opt/paystream/share/doc/paystream/operations.md"] != nil)
        let unit = try String(contentsOfFile: "\(root)/etc/systemd/system/paystream-notifier@.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/paystream/bin/notifier --config /etc/ps/notifier.yaml --instance-id %i"))
        #expect(unit.contains("LoadCredential=webhook:/etc/ps/notifier/webhooks") && !unit.contains("/usr/local/bin"))
        #expect(unit.contains("LoadCredential=kafka:/etc/ps/notifier/kafka") && unit.contains("User=paystream-notifier"))
        #expect(files["etc/systemd/system/paystream.target"] != nil)

        let second = try Self.install(root, ["--prefix", "/opt/paystream", "--sysconfdir", "/etc/ps", "--allow-ip", "10.1.0.0/24",
                                             "--allow-ip", "10.1.9.5"])
        #expect(second.status == 0 && !second.output.contains(".dist"), "\(second.output)")
        let again = try Self.listing(root)
        // Units and configuration untouched (binaries and docs are copied anew each time).
        for (path, entry) in files where path.hasPrefix("etc/") { #expect(again[path] == entry, "\(path)") }

        try "brokers: kafka-1:9092\n".write(toFile: "\(root)/etc/ps/notifier.yaml", atomically: true, encoding: .utf8)
        let third = try Self.install(root, ["--prefix", "/opt/paystream", "--sysconfdir", "/etc/ps"])
        #expect(third.status == 0 && third.output.contains("kept your \(root)/etc/ps/notifier.yaml"), "\(third.output)")
        #expect(try String(contentsOfFile: "\(root)/etc/ps/notifier.yaml", encoding: .utf8) == "brokers: kafka-1:9092\n")
        #expect(FileManager.default.fileExists(atPath: "\(root)/etc/ps/notifier.yaml.dist"))

        let refused = try Self.install(root, ["--create-topics"])
        #expect(refused.status == 2 && refused.output.contains("--create-topics needs --brokers"))
    }
}
