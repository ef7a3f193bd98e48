#include "document.hpp"

#include <type_traits>

namespace genlab::doc {

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

size_t Document::charts() const {
  size_t n = 0;
  for (const auto& b : blocks) n += b.format != Format::markdown && std::holds_alternative<Chart>(b.body);
  return n;
}

// ---------------------------------------------------------------------------- Markdown

namespace {

// A '|' would end a table's cell, a line break its row.
std::string table_cell_escape(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
  return out;
}

std::string inline_markdown(const Inline& content, bool in_table = false) {
  std::string out;
  for (const Span& s : content) {
    if (s.format == Format::html) continue;
    const std::string t = in_table && s.kind != Span::Kind::raw ? table_cell_escape(s.text) : s.text;
    switch (s.kind) {
      case Span::Kind::code: out += "`" + t + "`"; break;
      case Span::Kind::bold:
      case Span::Kind::strong: out += "**" + t + "**"; break;
      case Span::Kind::text:
      case Span::Kind::small:
      case Span::Kind::raw: out += t; break;
    }
  }
  return out;
}

std::string markdown_row(const std::vector<Cell>& cells) {
  std::string out = "|";
  for (const Cell& c : cells) out += " " + inline_markdown(c.content, true) + " |";
  return out;
}

std::string markdown_table(const Table& t) {
  std::string out = markdown_row(t.header) + "\n|";
  for (size_t i = 0; i < t.header.size(); ++i) out += "---|";
  for (const auto& row : t.rows) out += "\n" + markdown_row(row);
  return out;
}

// A block's Markdown, without the blank line between blocks ("" when it has none).
std::string markdown(const Block& b) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Heading>)
          return std::string(static_cast<size_t>(x.level), '#') + " " + inline_markdown(x.content);
        else if constexpr (std::is_same_v<T, Paragraph>) return inline_markdown(x.content);
        else if constexpr (std::is_same_v<T, Table>) return markdown_table(x);
        else if constexpr (std::is_same_v<T, List>) {
          std::string out;
          for (const auto& item : x.items) out += (out.empty() ? "- " : "\n- ") + inline_markdown(item);
          return out;
        } else if constexpr (std::is_same_v<T, Pre>) return "```\n" + x.text + "\n```";
        else if constexpr (std::is_same_v<T, Figure>)
          return "**" + x.label + "**, " + x.caption + ":\n\n![" + x.label + "](" + x.file + ")";
        else return inline_markdown(x.markdown);  // Chart
      },
      b.body);
}

}  // namespace

std::string render_markdown(const Document& doc) {
  std::string out;
  for (const Block& b : doc.blocks) {
    if (b.format == Format::html) continue;
    const std::string text = markdown(b);
    if (text.empty()) continue;
    out += (out.empty() ? "" : "\n\n") + text;
  }
  return out + "\n";
}

// -------------------------------------------------------------------------------- HTML

namespace {

std::string inline_html(const Inline& content) {
  std::string out;
  for (const Span& s : content) {
    if (s.format == Format::markdown) continue;
    switch (s.kind) {
      case Span::Kind::text: out += html_escape(s.text); break;
      case Span::Kind::code: out += "<code>" + html_escape(s.text) + "</code>"; break;
      case Span::Kind::bold: out += "<b>" + html_escape(s.text) + "</b>"; break;
      case Span::Kind::strong: out += "<strong>" + html_escape(s.text) + "</strong>"; break;
      case Span::Kind::small: out += "<small>" + html_escape(s.text) + "</small>"; break;
      case Span::Kind::raw: out += s.text; break;
    }
  }
  return out;
}

std::string class_attribute(const std::string& html_class) {
  return html_class.empty() ? "" : " class=\"" + html_escape(html_class) + "\"";
}

std::string html_row(const std::vector<Cell>& cells, const char* tag) {
  std::string out = "<tr>";
  for (const Cell& c : cells)
    out += "<" + std::string(tag) + class_attribute(c.html_class) + ">" + inline_html(c.content) + "</" + tag + ">";
  return out + "</tr>\n";
}

std::string html_table(const Table& t) {
  std::string out = std::string(t.wide ? "<div class=\"wide\">" : "") + "<table" + class_attribute(t.html_class) + ">";
  out += html_row(t.header, "th");
  for (const auto& row : t.rows) out += html_row(row, "td");
  return out + "</table>" + (t.wide ? "</div>" : "") + "\n";
}

std::string base64(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(v >> shift) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_figure(const Figure& f) {
  return "<figure><img style=\"width:" + std::to_string(f.width) + "px\" alt=\"" + html_escape(f.alt) +
         "\" src=\"data:image/png;base64," + base64(f.png) + "\"><figcaption>" + html_escape(f.label) + ", " +
         html_escape(f.caption) + "</figcaption></figure>\n";
}

// The body's HTML; each chart gets its place here and its drawing in `scripts`.
struct HtmlBody {
  std::string html, scripts;
  size_t charts = 0;

  void add(const Block& b) {
    std::visit([this](const auto& x) { add(x); }, b.body);
  }
  void add(const Heading& h) {
    const std::string tag = "h" + std::to_string(h.level);
    html += "<" + tag + ">" + inline_html(h.content) + "</" + tag + ">\n";
  }
  void add(const Paragraph& p) {
    html += "<p" + class_attribute(p.html_class) + ">" + inline_html(p.content) + "</p>\n";
  }
  void add(const Table& t) { html += html_table(t); }
  void add(const List& l) {
    html += "<ul>\n";
    for (const auto& item : l.items) html += "<li>" + inline_html(item) + "</li>\n";
    html += "</ul>\n";
  }
  void add(const Pre& p) { html += "<pre" + class_attribute(p.html_class) + ">" + html_escape(p.text) + "</pre>\n"; }
  void add(const Figure& f) { html += html_figure(f); }
  void add(const Chart& c) {
    const std::string id = "chart" + std::to_string(charts++);
    html += "<div class=\"chart\" id=\"" + id + "\"></div>\n";
    scripts += "charts.push(vegaEmbed('#" + id + "', " + c.spec + ", {actions: false, renderer: 'svg'}));\n";
  }
};

}  // namespace

std::string render_html(const Document& doc, const HtmlPage& page) {
  HtmlBody body;
  for (const Block& b : doc.blocks)
    if (b.format != Format::markdown) body.add(b);
  const std::string count = std::to_string(body.charts);
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(doc.title) +
         "</title>\n<style>" + page.style + "</style>\n" + page.head + "</head><body>\n" + body.html +
         "<p id=\"render-status\" data-status=\"pending\"></p>\n<script>\n"
         "// Marks the page rendered (every chart drawn, every image decoded) for tests and readers.\n"
         "const charts = [];\n" +
         (page.draw_charts ? body.scripts : std::string()) +
         "Promise.allSettled(charts).then(results => {\n"
         "  const drawn = results.filter(r => r.status === 'fulfilled').length;\n"
         "  const images = Array.from(document.images);\n"
         "  const shown = images.filter(i => i.complete && i.naturalWidth > 0).length;\n"
         "  const status = document.getElementById('render-status');\n"
         "  status.dataset.status = (drawn === " +
         count +
         " && shown === images.length) ? 'ok' : 'failed';\n"
         "  status.textContent = `charts ${drawn}/" +
         count +
         ", images ${shown}/${images.length}`;\n"
         "});\n</script>\n</body></html>\n";
}

}  // namespace genlab::doc
