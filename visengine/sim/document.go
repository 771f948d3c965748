package sim

import (
	"archive/zip"
	"bytes"
	"fmt"
	"strings"
	"time"
)

// buildDocument returns the request's document, a ZIP holding "<id>.pdf",
// and the size of that PDF. stage, when not empty, names which document
// it is (the published profile's DSU receipt, then the certificate). It
// depends only on its arguments, so the same request at the same stage
// always gets the same bytes.
func buildDocument(id, service, hash, stage string, created time.Time) (zipped []byte, pdfSize int) {
	lines := []string{"Visengine simulator - documento simulato"}
	if stage != "" {
		lines = append(lines, stage)
	}
	pdf := buildPDF(append(lines,
		"Richiesta: "+id,
		"Servizio: "+service,
		"hash_visura: "+hash,
		"Data richiesta: "+created.UTC().Format("02-01-2006 15:04:05")+" UTC",
	))
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	f, err := zw.CreateHeader(&zip.FileHeader{Name: id + ".pdf", Method: zip.Deflate, Modified: created.UTC().Truncate(time.Second)})
	if err == nil {
		_, err = f.Write(pdf)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		panic("sim: writing a ZIP to memory failed: " + err.Error()) // bytes.Buffer writes cannot fail
	}
	return b.Bytes(), len(pdf)
}

// buildPDF writes a minimal valid one-page PDF 1.4 showing lines in Helvetica,
// with a correct cross-reference table.
func buildPDF(lines []string) []byte {
	var content strings.Builder
	content.WriteString("BT\n/F1 12 Tf\n16 TL\n72 770 Td\n")
	for _, l := range lines {
		content.WriteString("(" + pdfString(l) + ") Tj T*\n")
	}
	content.WriteString("ET\n")
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

// pdfString escapes s for a PDF literal string in WinAnsiEncoding: Latin-1
// letters as octal escapes, anything else outside it as "?".
func pdfString(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r >= 0xa0 && r <= 0xff:
			fmt.Fprintf(&b, "\\%03o", r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
