import Testing

@testable import Workers

/// The stored certificate id names two files in the certificates folder: only a plain name may.
struct CertificateFileNameTests {
    @Test func plainNamesNameFiles() {
        for id in ["CERT-2025-000001", "BTG.2025_TATA-GRAHA.7", "a", "0", String(repeating: "a", count: 200)] {
            #expect(CertificateFileWriter.canNameFiles(id), "\(id)")
        }
    }

    @Test func pathsHiddenNamesAndLookalikesDoNot() {
        let hostile = [
            "", ".", "..", "../escaped", "a/b", "/etc/passwd", ".hidden", "-rf", "_x", "a b", "a\u{0}b", "a\n",
            "sertifikat-é", "\u{FF11}23", "a\u{200B}b", "CERT\u{2215}1", "a\\b", "a:b", "a*b",
            String(repeating: "a", count: 201),
        ]
        for id in hostile { #expect(!CertificateFileWriter.canNameFiles(id), "\(id.debugDescription)") }
    }
}
