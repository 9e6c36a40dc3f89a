import CertificateTrust
import Foundation
import TestSupport
import Testing

@testable import Workers
@testable import kaltim_demo

/// The certificate PDF this code writes itself (``EmbeddedFontCanvas``): read back by poppler and
/// zbar as a reader and a phone would, laid out as cairo lays it out, and any text it cannot
/// draw drawn by cairo instead.
@Suite struct CertificatePageTests {
    static let verificationURL = "https://verifikasi.example/v/"

    /// A signed certificate for `holder`: a BLKI's training certificate, a record of a BNSP
    /// competency certificate, or a record of a Lisensi K3 (`kind`).
    static func document(
        holder: String, kind: String = CertificateKind.training, signatory: String = "Nama Pejabat BLKI Bontang (contoh)",
        qualification: String? = nil, issuerNumbers: String? = nil, lspLicence: String = "BNSP-LSP-0123-ID"
    ) throws -> CertificateDocument {
        let training = kind == CertificateKind.training
        let payload = CertificateDocument.Payload(
            certificateID: training ? "PLT-BLKI-BONTANG-2025-00042" : "KOM-\(lspLicence)-2025-KOM-00042", kind: kind,
            issuer: training ? "BLKI Bontang" : "LSP \(lspLicence)",
            certificateNumber: training ? "PLT/BLKI-BONTANG/2025/00042" : issuerNumbers ?? "55101 5151 2 0001234 2025",
            registrationNumber: training ? nil : issuerNumbers ?? "No. Reg. PAR 0123 00042 2025", participantID: "PST-42",
            programme: "TKR-1",
            scheme: training ? nil : "SKM-2025-HTL-TGR", issuedOn: "2025-08-08", validUntil: training ? nil : "2028-08-08",
            holderName: holder, signatory: .init(name: signatory, title: "Kepala UPTD BLKI Bontang", place: "Bontang"),
            qualification: qualification)
        return try CertificateSigner.development.sign(payload, at: Date(timeIntervalSince1970: 1_754_600_000))
    }

    /// A folder of its own for one test's files.
    static func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("certificate-page-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A poppler or zbar command's output and exit status; what it said on standard error too.
    static func run(_ tool: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        // zbar complains on standard error when it finds no D-Bus; poppler's errors are what the tests look for.
        let process = try ChildProcess(tool, arguments, standardErrorToo: !tool.hasSuffix("zbarimg"))
        let status = try await process.waitForExit(timeout: .seconds(60))
        let output = process.output
        await process.terminate()
        return (status, output)
    }

    /// Which writer wrote a PDF: cairo names itself as the producer; this code writes no producer.
    static func writtenByCairo(_ path: String) throws -> Bool {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        return bytes.range(of: Data("/Producer (cairo".utf8)) != nil
    }

    @Test func certificatesAreWrittenWithEmbeddedFontsHere() {
        #expect(CertificatePDF.writesWithEmbeddedFonts, "fonts-dejavu-core is installed by scripts/install-deps.sh")
    }

    /// The page as poppler sees it: its fonts embedded subsets with a Unicode map, no syntax
    /// error, the text in reading order, and the QR code read by zbar at 72, 150 and 300 dpi.
    @Test func thePageReadsBackWithItsTextAndQRCode() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let document = try Self.document(holder: "Siti Aminah")
        let pdf = folder + "/certificate.pdf"
        try CertificatePDF.write(
            document, programmeName: "Teknik Kendaraan Ringan", verificationURL: Self.verificationURL, to: pdf)
        #expect(try !Self.writtenByCairo(pdf))
        let info = try await Self.run("/usr/bin/pdfinfo", [pdf])
        #expect(info.status == 0 && info.output.contains(/Pages: +1\n/), "\(info.output)")
        #expect(info.output.contains("842 x 595 pts"), "\(info.output)")
        #expect(!info.output.contains("Error"), "\(info.output)")
        // The file's structure as qpdf checks it: the cross-reference table, the objects, every
        // stream's length and encoding.
        let check = try await Self.run("/usr/bin/qpdf", ["--check", pdf])
        #expect(check.status == 0 && check.output.contains("No syntax or stream encoding errors found"), "\(check.output)")
        // DejaVu's OS/2 table has no cap height: the descriptors give the top of its "H" (1,493 of
        // 2,048 units in both weights).
        let bytes = try String(decoding: Data(contentsOf: URL(fileURLWithPath: pdf)), as: UTF8.self)
        #expect(bytes.components(separatedBy: "/CapHeight 729 ").count == 3, "both descriptors")
        let fonts = try await Self.run("/usr/bin/pdffonts", [pdf])
        let rows = fonts.output.split(separator: "\n").dropFirst(2)
        #expect(rows.count == 2, "\(fonts.output)")
        for row in rows {
            #expect(row.contains("CID TrueType") && row.contains("Identity-H"), "\(row)")
            #expect(row.contains("yes yes yes"), "embedded, a subset, with a Unicode map: \(row)")
        }
        let text = try await Self.run("/usr/bin/pdftotext", ["-layout", pdf, "-"])
        #expect(text.status == 0 && !text.output.contains("Error"), "\(text.output)")
        for line in [
            "PEMERINTAH PROVINSI KALIMANTAN TIMUR", "SERTIFIKAT PELATIHAN", "Nomor: PLT/BLKI-BONTANG/2025/00042",
            "Siti Aminah", "Nomor peserta PST-42", "Diterbitkan: 8 Agustus 2025", "Bontang, 8 Agustus 2025",
            "Kepala UPTD BLKI Bontang", "Nama Pejabat BLKI Bontang (contoh)",
            "CONTOH — ditandatangani dengan kunci pengembangan",
            "Periksa keaslian: \(Self.verificationURL)\(document.verificationCode)",
        ] {
            #expect(text.output.contains(line), "\(line) in \(text.output)")
        }
        for resolution in ["72", "150", "300"] {
            let render = try await Self.run(
                "/usr/bin/pdftoppm", ["-r", resolution, "-png", "-singlefile", pdf, folder + "/page"])
            #expect(render.status == 0 && render.output.isEmpty, "poppler said: \(render.output)")
            let scan = try await Self.run("/usr/bin/zbarimg", ["--quiet", "--raw", folder + "/page.png"])
            #expect(scan.status == 0, "\(resolution) dpi")
            #expect(
                scan.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    == Self.verificationURL + document.verificationCode, "the QR code at \(resolution) dpi")
        }
    }

    /// Each word where cairo puts it, on the three kinds of page: the centred lines centred the
    /// same way, a name and a licence's qualification too wide for the page made as small, within
    /// a point (poppler's word boxes of the two files; cairo's advances come out about 0.1 %
    /// narrower than the font's own, half a point across a 560-point line).
    @Test(
        arguments: [
            (CertificateKind.training, "Muhammad Rizky Pratama Wijayakusuma", nil),
            (
                CertificateKind.training, "Raden Mas Muhammad Rizky Pratama Wijayakusuma Hadiningrat Purbonegoro Sastrowardoyo",
                nil
            ),
            (CertificateKind.competency, "Siti Aminah", nil),
            (
                CertificateKind.safetyLicence, "Ahmad Dahlan",
                "Operator Forklift Kelas II untuk pesawat angkat dan angkut di gudang, pelabuhan dan kawasan industri Kalimantan Timur"
            ),
        ] as [(String, String, String?)])
    func theLayoutIsCairos(kind: String, holder: String, qualification: String?) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let document = try Self.document(holder: holder, kind: kind, qualification: qualification)
        for byCairo in [false, true] {
            try CertificatePDF.write(
                document, programmeName: "Teknik Kendaraan Ringan", verificationURL: Self.verificationURL,
                to: folder + (byCairo ? "/cairo.pdf" : "/own.pdf"), byCairo: byCairo)
        }
        #expect(try Self.writtenByCairo(folder + "/cairo.pdf") && !Self.writtenByCairo(folder + "/own.pdf"))
        func words(_ name: String) async throws -> [String] {
            let boxes = try await Self.run("/usr/bin/pdftotext", ["-bbox", folder + "/" + name, "-"])
            return boxes.output.split(separator: "\n").filter { $0.contains("<word ") }.map(String.init)
        }
        let own = try await words("own.pdf")
        let cairo = try await words("cairo.pdf")
        #expect(own.count == cairo.count && own.count > 50, "\(own.count) and \(cairo.count) words")
        // The long name and the long qualification were made smaller than their usual size (24
        // and 13 points: a word box that tall) to fit between the borders.
        let tallest = own.compactMap { line -> Double? in
            guard line.contains(">Raden<") || line.contains(">Forklift<") else { return nil }
            let edges = ["yMin", "yMax"].compactMap { key -> Double? in
                guard let start = line.range(of: key + "=\"") else { return nil }
                return Double(line[start.upperBound...].prefix { $0 != "\"" })
            }
            return edges.count == 2 ? edges[1] - edges[0] : nil
        }
        if holder.hasPrefix("Raden") { #expect(tallest.count == 1 && tallest[0] < 24, "\(tallest)") }
        if qualification != nil { #expect(tallest.count == 1 && tallest[0] < 13, "\(tallest)") }
        func box(_ line: String) -> (word: Substring, edges: [Double]) {
            let word = line.split(separator: ">").dropFirst().first?.split(separator: "<").first ?? ""
            let edges = ["xMin", "yMin", "xMax", "yMax"].map { key -> Double in
                guard let start = line.range(of: key + "=\"") else { return .nan }
                return Double(line[start.upperBound...].prefix { $0 != "\"" }) ?? .nan
            }
            return (word, edges)
        }
        for (mine, theirs) in zip(own, cairo) {
            let (a, b) = (box(mine), box(theirs))
            #expect(a.word == b.word)
            #expect(zip(a.edges, b.edges).allSatisfy { abs($0 - $1) < 1 }, "\(mine) against \(theirs)")
        }
    }

    /// Names as they are written in Indonesia and beyond: the typographic apostrophe is drawn with
    /// the embedded fonts; a letter the fonts' repertoire lacks (any accented one) sends the whole
    /// page to cairo, which draws it; PDF syntax in a name is only text either way; a control
    /// character (a NUL, a line break) is drawn as a space, by either writer.
    @Test func anyNameIsDrawnAndReadBack() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let names: [(name: String, byCairo: Bool)] = [
            ("Ma’ruf Amin", false), ("José Müller Siregar", true), ("Nguyễn Thị Ánh", true), ("Đặng Hằng", true),
            ("A) Tj ET BT /F2 99 Tf (X", false), ("<0041> Tj \\) %%EOF", false), ("Ahmad\u{0}Dahlan", false),
            ("Baris\nBaru", false), ("Ahmad\u{0}Dahlan é", true), ("Ahmad\u{2028}Dahlan\r\nSiregar", false),
            (String(repeating: "Panjang ", count: 60), false),
        ]
        for (index, entry) in names.enumerated() {
            let pdf = folder + "/\(index).pdf"
            try CertificatePDF.write(
                try Self.document(holder: entry.name), programmeName: "Tata Graha", verificationURL: nil, to: pdf)
            #expect(try Self.writtenByCairo(pdf) == entry.byCairo, "\(entry.name)")
            let text = try await Self.run("/usr/bin/pdftotext", [pdf, "-"])
            #expect(text.status == 0 && !text.output.contains("Error"), "\(entry.name): \(text.output)")
            // Each control character or line separator a space: the words apart, none lost.
            let printed = CertificatePDF.printable(entry.name)
            #expect(!printed.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x2028 })
            for word in printed.split(separator: " ").prefix(3) {
                #expect(text.output.contains(word), "\(word) of \(entry.name) in \(text.output)")
            }
            if entry.name.hasPrefix("Ahmad") { #expect(text.output.contains("Ahmad Dahlan"), "\(text.output)") }
            let render = try await Self.run("/usr/bin/pdftoppm", ["-r", "72", "-png", "-singlefile", pdf, folder + "/page"])
            #expect(render.status == 0 && render.output.isEmpty, "\(entry.name): \(render.output)")
        }
    }
}

/// Texts as long as a publisher may send them, read back from the page as poppler sees it: each
/// word inside the border and clear of the QR code, the holder's name whole between "Diberikan
/// kepada" and the participant number, on as many lines as it needs, by either writer.
@Suite struct LongTextLayoutTests {
    /// A word poppler found: its text and its box (points, from the top left corner).
    struct Word {
        var text: String
        var xMin, yMin, xMax, yMax: Double

        init?(_ line: Substring) {
            guard line.contains("<word "), let text = line.split(separator: ">").dropFirst().first?.split(separator: "<").first
            else { return nil }
            func edge(_ key: String) -> Double? {
                guard let start = line.range(of: key + "=\"") else { return nil }
                return Double(line[start.upperBound...].prefix { $0 != "\"" })
            }
            guard let xMin = edge("xMin"), let yMin = edge("yMin"), let xMax = edge("xMax"), let yMax = edge("yMax") else {
                return nil
            }
            // poppler writes the five characters XML escapes as entities.
            var decoded = String(text)
            for (entity, character) in [("&apos;", "'"), ("&quot;", "\""), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")] {
                decoded = decoded.replacingOccurrences(of: entity, with: character)
            }
            self.text = decoded
            (self.xMin, self.yMin, self.xMax, self.yMax) = (xMin, yMin, xMax, yMax)
        }
    }

    /// The words of a PDF's one page, in reading order.
    static func words(_ pdf: String) async throws -> [Word] {
        let boxes = try await CertificatePageTests.run("/usr/bin/pdftotext", ["-bbox", pdf, "-"])
        #expect(boxes.status == 0 && !boxes.output.contains("Error"), "\(boxes.output)")
        return boxes.output.split(separator: "\n").compactMap(Word.init)
    }

    static let longestNames = [
        // Intake's limit is 200 characters: the widest capital 200 times, as one word and as words.
        String(repeating: "W", count: 200),
        String(repeating: "WWWWWWWWW ", count: 20).trimmingCharacters(in: .whitespaces),
        String(repeating: "Muhammad ", count: 22).trimmingCharacters(in: .whitespaces),
        "Raden Mas Muhammad Rizky Pratama Wijayakusuma Hadiningrat Purbonegoro Sastrowardoyo Mangkunegara Suryaningrat",
        "Ahmad", "Siti Aminah",
        // Intake takes 200 letters of any script: the widest, which three lines at 6 pt do not hold.
        String(repeating: "\u{1676}", count: 200), "A" + String(repeating: "\u{2031}", count: 199),
    ]

    /// The setting itself, with every character one unit wide at 1 pt and a room of 100 units:
    /// one line as large as fits up to 24 pt, down to 12; else the fewest lines at the largest
    /// size, balanced, a word wider than a line cut.
    @Test func aNameTakesTheFewestLinesAtTheLargestSize() {
        func set(_ name: String) -> CertificatePDF.TextSetting {
            CertificatePDF.setting(name, room: 100, options: CertificatePDF.nameOptions) { Double($0.count) }
        }
        #expect(set("Ahmad") == .init(lines: ["Ahmad"], baselines: [266], size: 20))
        #expect(set("Siti Ami") == .init(lines: ["Siti Ami"], baselines: [266], size: 12.5))
        #expect(set("Ahmad Dahlan") == .init(lines: ["Ahmad", "Dahlan"], baselines: [256, 272], size: 14))
        #expect(set("Abcde Fghij Klmno") == .init(lines: ["Abcde Fghij", "Klmno"], baselines: [256, 272], size: 9))
        #expect(
            set("Abcdefgh Ijklmnop Qrstuvwx")
                == .init(lines: ["Abcdefgh", "Ijklmnop", "Qrstuvwx"], baselines: [252, 262.5, 273], size: 9))
        let word = String(repeating: "W", count: 40)
        let cut = set(word)
        #expect(cut.lines.joined() == word && cut.lines.count == 3 && cut.size == 7, "\(cut)")
        #expect(cut.lines.allSatisfy { Double($0.count) * cut.size <= 100 }, "\(cut)")
        // Longer than three lines at 6 pt hold: smaller still, nothing cut, nothing too wide.
        let text = String(repeating: "Wwwww ", count: 20).trimmingCharacters(in: .whitespaces)
        let overlong = set(text)
        #expect(overlong.lines.count == 3 && overlong.size < 6, "\(overlong)")
        #expect(overlong.lines.joined(separator: " ") == text)
        #expect(overlong.lines.allSatisfy { Double($0.count) * overlong.size <= 100 }, "\(overlong)")
        let unbroken = String(repeating: "W", count: 400)
        let tiny = set(unbroken)
        #expect(tiny.lines.joined() == unbroken && tiny.lines.count == 3, "\(tiny)")
        #expect(tiny.lines.allSatisfy { Double($0.count) * tiny.size <= 100 }, "\(tiny)")
        // One option: one line, as small as it takes.
        let link = CertificatePDF.setting(String(repeating: "x", count: 50), room: 100, options: [(8, 6, [521])]) {
            Double($0.count)
        }
        #expect(link == .init(lines: [String(repeating: "x", count: 50)], baselines: [521], size: 2))
        #expect(set("") == .init(lines: [""], baselines: [266], size: 24))
    }

    @Test(arguments: longestNames)
    func theNameIsWholeBetweenItsNeighbours(name: String) async throws {
        let folder = try CertificatePageTests.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for byCairo in [false, true] {
            let pdf = folder + (byCairo ? "/cairo.pdf" : "/own.pdf")
            try CertificatePDF.write(
                try CertificatePageTests.document(holder: name), programmeName: "Tata Graha",
                verificationURL: CertificatePageTests.verificationURL, to: pdf, byCairo: byCairo)
            let words = try await Self.words(pdf)
            let writer = byCairo ? "cairo" : "own"
            guard let kepada = words.firstIndex(where: { $0.text == "kepada" }),
                let nomor = words[kepada...].firstIndex(where: { $0.text == "Nomor" })
            else {
                Issue.record("\(writer): no \"Diberikan kepada\" and participant number in \(words.map(\.text))")
                continue
            }
            let lines = words[(kepada + 1)..<nomor]
            // The whole name, nothing cut: poppler reads a word broken across lines as two words.
            #expect(lines.map(\.text).joined() == name.replacingOccurrences(of: " ", with: ""), "\(writer)")
            for word in lines {
                #expect(word.xMin >= 27 && word.xMax <= 842 - 27, "\(writer): \(word) inside the border")
                #expect(word.yMin >= words[kepada].yMax && word.yMax <= words[nomor].yMin, "\(writer): \(word) between")
                // No smaller than 6 points (poppler's box is the font's ascent and descent, 1.16
                // em) for any name of Latin letters.
                if name.allSatisfy(\.isASCII) { #expect(word.yMax - word.yMin >= 6 * 1.16 - 0.01, "\(writer): \(word)") }
            }
            let rows = Set(lines.map { ($0.yMax * 10).rounded() })
            #expect(rows.count <= 3, "\(writer): \(rows.count) lines")
            if name.count <= 15 { #expect(rows.count == 1 && lines.allSatisfy { $0.yMax - $0.yMin > 24 }, "\(writer)") }
        }
    }

    /// Every word of a page whose texts are as long as a publisher, the plan or the operator may
    /// make them inside the border, clear of the QR code and of every other word: an LSP's
    /// licence and numbers of 64 of the widest characters (the licence is in the certificate's
    /// id, so in the verification code), a long qualification, signatory and programme, a
    /// 200-byte verification address.
    @Test(arguments: [CertificateKind.training, CertificateKind.competency, CertificateKind.safetyLicence])
    func everyTextStaysOnThePage(kind: String) async throws {
        let folder = try CertificatePageTests.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let document = try CertificatePageTests.document(
            holder: Self.longestNames[1], kind: kind,
            signatory: "Dr. Ir. Raden Mas Muhammad Rizky Pratama, S.T., M.T., M.M.",
            qualification: String(repeating: "Operator Pesawat Angkat ", count: 8),
            issuerNumbers: String(repeating: "W", count: 64), lspLicence: String(repeating: "W", count: 64))
        // The longest address --verification-url takes: 200 bytes.
        let address = "https://" + String(repeating: "w", count: 185) + ".go.id/"
        #expect(address.utf8.count == 200)
        for byCairo in [false, true] {
            let pdf = folder + (byCairo ? "/cairo.pdf" : "/own.pdf")
            try CertificatePDF.write(
                document, programmeName: String(repeating: "Teknik Kendaraan Ringan ", count: 5), verificationURL: address,
                to: pdf, byCairo: byCairo)
            let words = try await Self.words(pdf)
            #expect(words.count > 40)
            for word in words {
                #expect(word.xMin >= 27 && word.xMax <= 842 - 27 && word.yMin >= 27 && word.yMax <= 595 - 27, "\(word)")
                // The QR code: 120 points square, 60 from the right and bottom edges.
                let clear = word.xMax <= 842 - 180 || word.yMax <= 595 - 180 || word.yMin >= 595 - 60
                #expect(clear, "\(byCairo ? "cairo" : "own"): \(word) over the QR code")
            }
            // No word drawn over another. poppler's box runs from the font's ascent (0.93 em,
            // room for an accent) to its descent (0.24 em); the ink of a word without accents
            // starts about 0.15 of the box lower.
            for (index, word) in words.enumerated() {
                for other in words[(index + 1)...] {
                    let top = (word.yMin + 0.15 * (word.yMax - word.yMin), other.yMin + 0.15 * (other.yMax - other.yMin))
                    let apart =
                        word.xMax <= other.xMin || other.xMax <= word.xMin || word.yMax <= top.1 || other.yMax <= top.0
                    #expect(apart, "\(byCairo ? "cairo" : "own"): \(word) over \(other)")
                }
            }
        }
    }
}

/// The font cut down to the certificate's characters, and numbers written as PDF wants them.
@Suite struct TrueTypeSubsetTests {
    static let dejaVuSans = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

    /// Every glyph of the subset is the whole font's glyph: the same outline (a composite's
    /// components renumbered to the subset's copies of them, each of them), the same advance and
    /// side bearing, also for a glyph past the font's last full metric (which takes that metric's
    /// advance).
    @Test func theSubsetsGlyphsAreTheFontsGlyphs() throws {
        let font = try UnhintedFont.strip([UInt8](Data(contentsOf: URL(fileURLWithPath: Self.dejaVuSans))))
        let glyphs = try UnhintedFontTests.glyphs(font)
        let tables = try UnhintedFontTests.tables(font)
        func u16(_ bytes: [UInt8], _ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
        func i16(_ bytes: [UInt8], _ at: Int) -> Int { Int(Int16(bitPattern: UInt16(u16(bytes, at)))) }
        let hmtx = try #require(tables["hmtx"])
        let metrics = u16(try #require(tables["hhea"]), 34)
        #expect(metrics < glyphs.count - 1, "DejaVu Sans has glyphs past its last full metric")
        func metric(_ glyph: Int) -> (advance: Int, bearing: Int) {
            (
                u16(hmtx, 4 * min(glyph, metrics - 1)),
                glyph < metrics ? i16(hmtx, 4 * glyph + 2) : i16(hmtx, 4 * metrics + 2 * (glyph - metrics))
            )
        }
        // Some letters, composites of two components (Ô, Õ), and the last glyphs of the font.
        let wanted: [UInt16] = [36, 37, 38, 100, 101, 102, 150, 151, UInt16(metrics), UInt16(glyphs.count - 1)]
        let composites = wanted.filter { glyph in glyphs[Int(glyph)].outline.first.map { $0 & 0x80 != 0 } ?? false }
        #expect(composites.count >= 2, "the test keeps composite glyphs")
        let subset = try TrueTypeSubset(font, keeping: wanted)
        let cut = try UnhintedFontTests.glyphs(subset.file)
        let cutTables = try UnhintedFontTests.tables(subset.file)
        #expect(u16(try #require(cutTables["hhea"]), 34) == cut.count, "a full metric for every glyph of the subset")
        let cutHmtx = try #require(cutTables["hmtx"])
        var original: [Int: Int] = [0: 0]
        for glyph in wanted { original[Int(try #require(subset.newNumber[glyph]))] = Int(glyph) }
        var componentsSeen = 0
        for (new, old) in original {
            let (mine, theirs) = (cut[new].outline, glyphs[old].outline)
            #expect(mine.count == theirs.count, "glyph \(old)")
            #expect(
                u16(cutHmtx, 4 * new) == metric(old).advance && i16(cutHmtx, 4 * new + 2) == metric(old).bearing, "glyph \(old)")
            #expect(subset.advances[new] == metric(old).advance, "glyph \(old)")
            let components = try TrueTypeFile.components(of: mine, glyph: new)
            if components.flagsAt.isEmpty {
                #expect(mine == theirs, "glyph \(old)")
            }
            for at in components.flagsAt {
                // The same bytes but the component's number, which names the subset's copy of
                // the same outline.
                let (component, originalComponent) = (u16(mine, at + 2), u16(theirs, at + 2))
                #expect(
                    component < cut.count && cut[component].outline == glyphs[originalComponent].outline,
                    "glyph \(old)'s component")
                componentsSeen += 1
            }
            var same = mine
            for at in components.flagsAt { same[at + 2...at + 3] = theirs[at + 2...at + 3] }
            #expect(same == theirs, "glyph \(old)")
        }
        #expect(componentsSeen >= 4, "both components of each composite")
        var sum: UInt32 = 0
        for word in stride(from: 0, to: subset.file.count, by: 4) {
            sum = sum &+ subset.file[word..<word + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        #expect(subset.file.count % 4 == 0 && sum == 0xB1B0_AFBA)
    }

    /// A glyph the font does not have, and fonts broken at random: refused, never a crash.
    @Test func aBrokenFontOrAMissingGlyphIsRefused() throws {
        let font = try UnhintedFont.strip([UInt8](Data(contentsOf: URL(fileURLWithPath: Self.dejaVuSans))))
        #expect(throws: TrueTypeFile.Refusal.self) { try TrueTypeSubset(font, keeping: [UInt16.max]) }
        #expect(throws: TrueTypeFile.Refusal.self) { try TrueTypeSubset([], keeping: [36]) }
        var generator = SeededRandom(seed: 2025)  // the main job's SplitMix64
        var refused = 0
        for _ in 0..<300 {
            var broken = font
            for _ in 0..<8 {
                let at = generator.next() % 2 == 0 ? Int(generator.next() % 1024) : Int(generator.next() % UInt64(font.count))
                broken[at] = UInt8(truncatingIfNeeded: generator.next())
            }
            do { _ = try TrueTypeSubset(broken, keeping: [36, 37, 150]) } catch { refused += 1 }
        }
        #expect(refused > 0)
    }

    /// A composite glyph built from itself, directly or through another, or nested deeper than
    /// any font needs, is refused, so a reader's rasteriser is never sent round for ever.
    @Test func aGlyphBuiltFromItselfIsRefused() throws {
        typealias Refusal = TrueTypeFile.Refusal
        #expect(throws: Refusal.self) { try TrueTypeSubset.refuseCircularOrDeep([5: [5]]) }
        #expect(throws: Refusal.self) { try TrueTypeSubset.refuseCircularOrDeep([5: [6, 7], 7: [8], 8: [5]]) }
        let limit = TrueTypeSubset.deepestComponents
        func chain(_ levels: Int, from top: Int = 100) -> [Int: [Int]] {
            Dictionary(uniqueKeysWithValues: (0..<levels).map { (top + $0, [top + $0 + 1]) })
        }
        try TrueTypeSubset.refuseCircularOrDeep(chain(limit))
        #expect(throws: Refusal.self) { try TrueTypeSubset.refuseCircularOrDeep(chain(limit + 1)) }
        // A glyph reached again, its levels already counted, counts them from the new depth:
        // 101 is under 100 and under 50 at the limit, and one more level under 49.
        var twoPaths = chain(limit)
        twoPaths[50] = [101]
        try TrueTypeSubset.refuseCircularOrDeep(twoPaths)
        twoPaths[49] = [50]
        #expect(throws: Refusal.self) { try TrueTypeSubset.refuseCircularOrDeep(twoPaths) }
        try TrueTypeSubset.refuseCircularOrDeep([1: [2, 3], 2: [4], 3: [4], 4: []])  // a part shared

        // DejaVu Sans's first composite glyph, its first component made itself.
        let font = try UnhintedFont.strip([UInt8](Data(contentsOf: URL(fileURLWithPath: Self.dejaVuSans))))
        let (version, order, tables) = try TrueTypeFile.tables(font)
        let glyf = try #require(tables["glyf"])
        let locations = TrueTypeFile.GlyphLocations(
            loca: .init(try #require(tables["loca"])), longOffsets: TrueTypeFile.Reader(try #require(tables["head"])).u16(50) == 1
        )
        let composite = try #require(
            (1..<4000).first { glyph in
                guard let range = locations.range(glyph), range.end - range.start >= 10 else { return false }
                return TrueTypeFile.Reader(glyf).i16(range.start).map { $0 < 0 } ?? false
            })
        _ = try TrueTypeSubset(font, keeping: [UInt16(composite)])
        let start = try #require(locations.range(composite)).start
        var patched = tables
        patched["glyf"]?[start + 12] = UInt8(composite >> 8)
        patched["glyf"]?[start + 13] = UInt8(composite & 0xFF)
        let circular = TrueTypeFile.assemble(order, patched, version: version)
        #expect(throws: Refusal(description: "glyph \(composite) is built from itself")) {
            try TrueTypeSubset(circular, keeping: [UInt16(composite)])
        }
    }

    @Test func numbersAreWrittenAsPDFReadsThem() {
        func written(_ value: Double) -> String {
            var bytes: [UInt8] = []
            PDFBytes.appendNumber(value, to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(written(0) == "0" && written(12) == "12" && written(595) == "595")
        #expect(written(246.0078125) == "246.008" && written(0.05) == "0.05" && written(-1.5) == "-1.5")
        #expect(written(-0.0001) == "0" && written(.nan) == "0" && written(.infinity) == "0" && written(1e300) == "0")
        #expect(written(1.0005) == "1.001" && written(9.9999) == "10")
    }
}
