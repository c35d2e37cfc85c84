//! Topology diagrams as SVG, laid out by meshc (no graphviz): a layered
//! layout of a directed graph, left to right. Layers are the longest path
//! from a source in the graph's condensation (call cycles share a layer);
//! within a layer nodes are ordered by the mean position of their
//! predecessors (one sweep), ties by label, so the picture is deterministic.
//! Above [`CLUSTER_ABOVE`] nodes, nodes are merged by their group (owner,
//! namespace) into at most [`MAX_NODES`] nodes and edges between groups are
//! merged too (at most [`MAX_EDGES`] drawn): a 1,000-service mesh reads as
//! its teams. Everything is linear in nodes and edges, but for sorting.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use petgraph::graph::{DiGraph, NodeIndex};

/// A graph with more nodes than this is drawn clustered by group.
pub const CLUSTER_ABOVE: usize = 40;
/// The most nodes a clustered diagram draws: the largest groups, then one for the rest.
pub const MAX_NODES: usize = 40;
/// The most edges a diagram draws: the heaviest; the rest are counted in a note.
pub const MAX_EDGES: usize = 400;

const NODE_WIDTH: usize = 170;
const NODE_HEIGHT: usize = 46;
const LAYER_GAP: usize = 90;
const ROW_GAP: usize = 22;
const MARGIN: usize = 20;
/// Labels longer than this are cut (the whole name is the node's tooltip).
const LABEL_CHARS: usize = 21;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub label: String,
    /// A second line: an owner, a kind, "12 services".
    pub detail: String,
    /// Relative to the page showing the diagram.
    pub href: Option<String>,
    /// `service`, `external`, `gateway`, `route`, `topic`, `cluster`: the CSS class.
    pub class: &'static str,
    /// What the node merges into when the graph is clustered (an owner, a namespace).
    pub group: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub label: String,
    /// `call`, `retried`, `amplified`, `publish`, `subscribe`, `route`: the CSS class.
    pub class: &'static str,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A drawn diagram.
pub struct Diagram {
    pub svg: String,
    /// Whether nodes were merged by group.
    pub clustered: bool,
}

impl Graph {
    pub fn add(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// The graph with nodes merged by group: the largest groups (ties by
    /// name) keep their own node, the rest share one; edges between two
    /// groups become one, labelled with how many they merge.
    fn clustered(&self, href: &dyn Fn(&str) -> Option<String>) -> Graph {
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for node in &self.nodes {
            *sizes.entry(node.group.as_str()).or_default() += 1;
        }
        let mut groups: Vec<(&str, usize)> = sizes.into_iter().collect();
        groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let kept = if groups.len() > MAX_NODES { MAX_NODES - 1 } else { groups.len() };
        let mut graph = Graph::default();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (group, size) in &groups[..kept] {
            index.insert(group, graph.nodes.len());
            graph.nodes.push(Node {
                label: (*group).to_string(),
                detail: plural(*size, "node"),
                href: href(group),
                class: "cluster",
                group: (*group).to_string(),
            });
        }
        if kept < groups.len() {
            let rest: usize = groups[kept..].iter().map(|g| g.1).sum();
            let other = graph.nodes.len();
            graph.nodes.push(Node {
                label: format!("{} more groups", groups.len() - kept),
                detail: plural(rest, "node"),
                href: None,
                class: "cluster",
                group: String::new(),
            });
            for (group, _) in &groups[kept..] {
                index.insert(group, other);
            }
        }
        let of: Vec<usize> = self.nodes.iter().map(|n| index[n.group.as_str()]).collect();
        let mut merged: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for edge in &self.edges {
            let (from, to) = (of[edge.from], of[edge.to]);
            if from != to {
                *merged.entry((from, to)).or_default() += 1;
            }
        }
        graph.edges = merged
            .into_iter()
            .map(|((from, to), n)| Edge { from, to, label: plural(n, "edge"), class: "call" })
            .collect();
        graph
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Draws `graph`, clustered when it is large; `id` makes its marker ids
/// unique in the page; `group_href` links a cluster to its group.
pub fn draw(graph: &Graph, id: &str, title: &str, group_href: &dyn Fn(&str) -> Option<String>) -> Diagram {
    let clustered = graph.nodes.len() > CLUSTER_ABOVE;
    let owned;
    let graph = if clustered {
        owned = graph.clustered(group_href);
        &owned
    } else {
        graph
    };
    // The heaviest edges when there are too many (clustered labels count what they merge).
    let mut edges: Vec<&Edge> = graph.edges.iter().collect();
    let mut edges_left_out = 0;
    if edges.len() > MAX_EDGES {
        let weight = |e: &Edge| e.label.split(' ').next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(1);
        edges.sort_by(|a, b| weight(b).cmp(&weight(a)).then((a.from, a.to).cmp(&(b.from, b.to))));
        edges_left_out = edges.len() - MAX_EDGES;
        edges.truncate(MAX_EDGES);
        edges.sort_by_key(|e| (e.from, e.to));
    }
    let (layer, row) = layout(graph.nodes.len(), &edges, &graph.nodes);
    Diagram { svg: svg(graph, &edges, &layer, &row, id, title, edges_left_out), clustered }
}

/// Each node's layer (column) and row.
fn layout(n: usize, edges: &[&Edge], nodes: &[Node]) -> (Vec<usize>, Vec<usize>) {
    let mut g = DiGraph::<usize, ()>::with_capacity(n, edges.len());
    for i in 0..n {
        g.add_node(i);
    }
    for e in edges {
        g.add_edge(NodeIndex::new(e.from), NodeIndex::new(e.to), ());
    }
    // Tarjan yields components in reverse topological order.
    let mut components = petgraph::algo::tarjan_scc(&g);
    components.reverse();
    let mut component = vec![0; n];
    for (c, members) in components.iter().enumerate() {
        for m in members {
            component[m.index()] = c;
        }
    }
    let mut layer = vec![0usize; n];
    let mut component_layer = vec![0usize; components.len()];
    for (c, members) in components.iter().enumerate() {
        let here = component_layer[c];
        for m in members {
            layer[m.index()] = here;
            for next in g.neighbors(*m) {
                let d = component[next.index()];
                if d != c {
                    component_layer[d] = component_layer[d].max(here + 1);
                }
            }
        }
    }
    let layers = layer.iter().max().map_or(0, |m| m + 1);
    let mut by_layer: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (node, l) in layer.iter().enumerate() {
        by_layer[*l].push(node);
    }
    let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in edges {
        if layer[e.from] < layer[e.to] {
            predecessors[e.to].push(e.from);
        }
    }
    let mut row = vec![0usize; n];
    for members in &mut by_layer {
        // Twice the mean row of the predecessors (integers stay exact); none: first.
        let key = |node: usize| -> usize {
            let p = &predecessors[node];
            if p.is_empty() {
                0
            } else {
                p.iter().map(|&q| row[q] * 2 + 1).sum::<usize>() / p.len()
            }
        };
        let mut keyed: Vec<(usize, usize)> = members.iter().map(|&m| (key(m), m)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| nodes[a.1].label.cmp(&nodes[b.1].label)).then(a.1.cmp(&b.1)));
        for (r, (_, node)) in keyed.iter().enumerate() {
            row[*node] = r;
        }
        *members = keyed.into_iter().map(|(_, m)| m).collect();
    }
    (layer, row)
}

/// Text and attribute values, escaped for XML and HTML alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn cut(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_string()
    } else {
        label.chars().take(LABEL_CHARS - 1).chain(['…']).collect()
    }
}

fn svg(
    graph: &Graph,
    edges: &[&Edge],
    layer: &[usize],
    row: &[usize],
    id: &str,
    title: &str,
    left_out: usize,
) -> String {
    let layers = layer.iter().max().map_or(0, |m| m + 1);
    let rows = row.iter().max().map_or(0, |m| m + 1);
    let width = MARGIN * 2 + layers.max(1) * NODE_WIDTH + layers.saturating_sub(1) * LAYER_GAP;
    let height = MARGIN * 2 + rows.max(1) * (NODE_HEIGHT + ROW_GAP) + if left_out > 0 { 20 } else { 0 };
    let x = |n: usize| MARGIN + layer[n] * (NODE_WIDTH + LAYER_GAP);
    let y = |n: usize| MARGIN + row[n] * (NODE_HEIGHT + ROW_GAP);
    let id = escape(id);
    let mut out = String::with_capacity(256 * (graph.nodes.len() + edges.len()) + 512);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"diagram\" id=\"{id}\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    let _ = write!(
        out,
        "<defs><marker id=\"{id}-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\"/></marker></defs>"
    );
    for e in edges {
        let (x1, y1) = (x(e.from) + NODE_WIDTH, y(e.from) + NODE_HEIGHT / 2);
        let (x2, y2) = (x(e.to), y(e.to) + NODE_HEIGHT / 2);
        let path = if layer[e.to] > layer[e.from] {
            let mid = (x1 + x2) / 2;
            format!("M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}")
        } else {
            // Back or same-layer edges (cycles) loop below the nodes.
            let low = y1.max(y2) + NODE_HEIGHT;
            format!("M {x1} {y1} C {} {low}, {} {low}, {x2} {y2}", x1 + LAYER_GAP / 2, x2.saturating_sub(LAYER_GAP / 2))
        };
        let _ = write!(out, "<g class=\"edge {}\"><path d=\"{path}\" marker-end=\"url(#{id}-arrow)\"/>", e.class);
        if !e.label.is_empty() {
            let (lx, ly) = ((x1 + x2) / 2, (y1 + y2) / 2 - 4);
            let _ = write!(out, "<text x=\"{lx}\" y=\"{ly}\" text-anchor=\"middle\">{}</text>", escape(&e.label));
        }
        out.push_str("</g>");
    }
    for (n, node) in graph.nodes.iter().enumerate() {
        let (nx, ny) = (x(n), y(n));
        let inner = format!(
            "<title>{}</title><rect x=\"{nx}\" y=\"{ny}\" width=\"{NODE_WIDTH}\" height=\"{NODE_HEIGHT}\" rx=\"6\"/><text x=\"{}\" y=\"{}\" class=\"label\">{}</text><text x=\"{}\" y=\"{}\" class=\"detail\">{}</text>",
            escape(&format!("{} ({})", node.label, node.detail)),
            nx + 10,
            ny + 19,
            escape(&cut(&node.label)),
            nx + 10,
            ny + 36,
            escape(&cut(&node.detail)),
        );
        match &node.href {
            Some(href) => {
                let _ = write!(out, "<a href=\"{}\" class=\"node {}\">{inner}</a>", escape(href), node.class);
            }
            None => {
                let _ = write!(out, "<g class=\"node {}\">{inner}</g>", node.class);
            }
        }
    }
    if left_out > 0 {
        let _ = write!(
            out,
            "<text x=\"{MARGIN}\" y=\"{}\" class=\"note\">{left_out} lighter edges not drawn</text>",
            height - 8
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(label: &str, group: &str) -> Node {
        Node { label: label.into(), detail: String::new(), href: None, class: "service", group: group.into() }
    }

    fn chain(n: usize, groups: usize) -> Graph {
        let mut g = Graph::default();
        for i in 0..n {
            g.add(node(&format!("s{i:04}"), &format!("team-{}", i % groups)));
        }
        for i in 1..n {
            g.edges.push(Edge { from: i / 2, to: i, label: String::new(), class: "call" });
        }
        g
    }

    #[test]
    fn layers_follow_the_longest_path_and_cycles_share_a_layer() {
        let mut g = Graph::default();
        for name in ["a", "b", "c", "d"] {
            g.add(node(name, "t"));
        }
        for (from, to) in [(0, 1), (1, 2), (2, 1), (0, 3), (3, 1)] {
            g.edges.push(Edge { from, to, label: String::new(), class: "call" });
        }
        let edges: Vec<&Edge> = g.edges.iter().collect();
        let (layer, _) = layout(4, &edges, &g.nodes);
        assert_eq!(layer, [0, 2, 2, 1]);
    }

    #[test]
    fn small_graphs_are_drawn_node_by_node_with_escaped_labels() {
        let mut g = chain(5, 1);
        g.nodes[0].label = "<script>alert(1)</script>".into();
        let d = draw(&g, "calls", "Call graph", &|_| None);
        assert!(!d.clustered);
        assert_eq!(d.svg.matches("class=\"node ").count(), 5);
        assert!(!d.svg.contains("<script>"));
        assert!(d.svg.contains("&lt;script&gt;"));
        assert_eq!(d.svg, draw(&g, "calls", "Call graph", &|_| None).svg, "deterministic");
    }

    #[test]
    fn large_graphs_are_clustered_into_a_bounded_number_of_elements() {
        let d = draw(&chain(1000, 25), "calls", "Call graph", &|g| Some(format!("#owner-{g}")));
        assert!(d.clustered);
        assert_eq!(d.svg.matches("class=\"node cluster\"").count(), 25);
        assert!(d.svg.matches("<path").count() <= MAX_EDGES + 1);
        // More groups than MAX_NODES: the smallest share one node.
        let d = draw(&chain(1000, 300), "calls", "Call graph", &|_| None);
        assert_eq!(d.svg.matches("class=\"node cluster\"").count(), MAX_NODES);
        assert!(d.svg.contains("261 more groups"));
    }
}
