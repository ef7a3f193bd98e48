// A small document model for the report: headings, paragraphs, tables, lists, preformatted
// text, figures and charts, built once and rendered as Markdown (report.md) and as HTML
// (report.html, one self-contained page). Where the two formats say a thing differently, a
// piece is marked for one format only (`Format`): an HTML chart has a sentence in Markdown,
// or nothing.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace genlab::doc {

enum class Format { both, markdown, html };

// A run of inline text. Text is escaped for HTML (and, in a Markdown table cell, for the
// table); raw is written as it is, in the one format it is meant for.
struct Span {
  enum class Kind { text, code, bold, strong, small, raw };
  Kind kind = Kind::text;
  std::string text;
  Format format = Format::both;
};
using Inline = std::vector<Span>;

inline Span text(std::string s) { return {Span::Kind::text, std::move(s)}; }
inline Span code(std::string s) { return {Span::Kind::code, std::move(s)}; }      // `s`, <code>
inline Span bold(std::string s) { return {Span::Kind::bold, std::move(s)}; }      // **s**, <b>
inline Span strong(std::string s) { return {Span::Kind::strong, std::move(s)}; }  // **s**, <strong>
inline Span small(std::string s) { return {Span::Kind::small, std::move(s)}; }    // s, <small>
inline Span raw_html(std::string s) { return {Span::Kind::raw, std::move(s), Format::html}; }
// The span in one format only.
inline Span markdown_only(Span s) {
  s.format = Format::markdown;
  return s;
}
inline Span html_only(Span s) {
  s.format = Format::html;
  return s;
}

struct Heading {
  int level = 1;
  Inline content;
};

struct Paragraph {
  Inline content;
  std::string html_class = {};
};

struct Cell {
  Inline content;
  std::string html_class;  // "nan": a metric that gave no number
  Cell(Inline c = {}, std::string cls = {}) : content(std::move(c)), html_class(std::move(cls)) {}
  Cell(std::string s) : content{text(std::move(s))} {}
  Cell(const char* s) : content{text(s)} {}
};

// Alignment is the style sheet's (names left, figures right); Markdown's tables have none.
struct Table {
  std::vector<Cell> header;
  std::vector<std::vector<Cell>> rows = {};
  std::string html_class = {};
  bool wide = false;  // in HTML, scrolls sideways rather than widening the page
};

struct List {
  std::vector<Inline> items;
};

// Preformatted text: a fenced block in Markdown, <pre> in HTML.
struct Pre {
  std::string text;
  std::string html_class = {};
};

// A PNG image under the caption "<label>, <caption>". Markdown links its file beside the
// report; HTML embeds its bytes, so that the page stands alone.
struct Figure {
  std::string label, caption;
  std::string alt;     // HTML's alt text (Markdown's is the label)
  std::string file;    // relative to the report
  std::string png;     // the file's bytes
  uint32_t width = 0;  // HTML's width in pixels
};

// A Vega-Lite chart (its JSON spec), drawn in HTML; Markdown has `markdown` in its place,
// as a paragraph, or nothing when it is empty.
struct Chart {
  std::string spec;
  Inline markdown;
};

struct Block {
  std::variant<Heading, Paragraph, Table, List, Pre, Figure, Chart> body;
  Format format = Format::both;
};

struct Document {
  std::string title;
  std::vector<Block> blocks;
  void add(Block b) { blocks.push_back(std::move(b)); }
  void add(Format format, Block b) {
    b.format = format;
    blocks.push_back(std::move(b));
  }
  size_t charts() const;
};

// What the HTML page holds besides the document.
struct HtmlPage {
  std::string style;        // the style sheet
  std::string head;         // raw HTML at the end of <head> (the charting libraries)
  bool draw_charts = true;  // false: the charts' places stay empty (no libraries to draw them)
};

std::string render_markdown(const Document& doc);
std::string render_html(const Document& doc, const HtmlPage& page);

std::string html_escape(const std::string& text);

}  // namespace genlab::doc
