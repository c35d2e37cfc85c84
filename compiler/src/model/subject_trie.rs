//! A set of subject patterns that finds the stored patterns overlapping a
//! given one without comparing it with each: what checks use to find
//! streams and work-queue consumers JetStream would refuse.

use std::collections::BTreeMap;

/// Subject patterns, each with a value, that answer which stored pattern
/// overlaps a given one (some subject matches both) by walking the tokens
/// they share, not by comparing with every stored pattern: JetStream's own
/// way (its sublist) of refusing overlapping streams.
#[derive(Debug)]
pub struct SubjectTrie<T> {
    nodes: Vec<TrieNode<T>>,
}

#[derive(Debug)]
struct TrieNode<T> {
    /// By token; sorted, so searches are deterministic.
    children: BTreeMap<String, usize>,
    /// The values of the patterns that end here.
    values: Vec<T>,
}

impl<T> Default for SubjectTrie<T> {
    fn default() -> Self {
        SubjectTrie { nodes: vec![TrieNode { children: Default::default(), values: Vec::new() }] }
    }
}

impl<T> SubjectTrie<T> {
    pub fn insert(&mut self, pattern: &str, value: T) {
        let mut node = 0;
        for token in pattern.split('.') {
            node = match self.nodes[node].children.get(token) {
                Some(&child) => child,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(TrieNode { children: Default::default(), values: Vec::new() });
                    self.nodes[node].children.insert(token.to_string(), child);
                    child
                }
            };
        }
        self.nodes[node].values.push(value);
    }

    /// A stored value `accept` takes whose pattern overlaps `pattern`.
    pub fn overlapping(&self, pattern: &str, accept: impl Fn(&T) -> bool) -> Option<&T> {
        let tokens: Vec<&str> = pattern.split('.').collect();
        self.search(0, &tokens, &accept)
    }

    fn search(&self, node: usize, tokens: &[&str], accept: &impl Fn(&T) -> bool) -> Option<&T> {
        let here = &self.nodes[node];
        let Some((&token, rest)) = tokens.split_first() else {
            // Both end here.
            return here.values.iter().find(|v| accept(v));
        };
        // A stored `>` takes this token and the rest.
        if let Some(&child) = here.children.get(">") {
            if let Some(found) = self.nodes[child].values.iter().find(|v| accept(v)) {
                return Some(found);
            }
        }
        match token {
            // This `>` takes whatever the stored patterns have from here on.
            ">" => here.children.values().find_map(|&child| self.any_below(child, accept)),
            "*" => here
                .children
                .iter()
                .filter(|(t, _)| t.as_str() != ">")
                .find_map(|(_, &child)| self.search(child, rest, accept)),
            literal => [literal, "*"]
                .iter()
                .filter_map(|t| here.children.get(*t))
                .find_map(|&child| self.search(child, rest, accept)),
        }
    }

    /// A value at `node` or below.
    fn any_below(&self, node: usize, accept: &impl Fn(&T) -> bool) -> Option<&T> {
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            if let Some(found) = self.nodes[n].values.iter().find(|v| accept(v)) {
                return Some(found);
            }
            stack.extend(self.nodes[n].children.values().rev());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::events::Subject;

    /// Every pattern of up to three tokens over `a`, `b`, `*` and a last `>`.
    fn patterns() -> Vec<String> {
        let tokens = ["a", "b", "*"];
        let mut out: Vec<String> = Vec::new();
        let mut level: Vec<String> = vec![String::new()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for prefix in &level {
                for t in tokens {
                    next.push(if prefix.is_empty() { t.to_string() } else { format!("{prefix}.{t}") });
                }
                out.push(if prefix.is_empty() { ">".to_string() } else { format!("{prefix}.>") });
            }
            out.extend(next.iter().cloned());
            level = next;
        }
        out
    }

    #[test]
    fn finds_exactly_the_patterns_that_overlap_pairwise() {
        let all = patterns();
        for stored in &all {
            let mut trie = SubjectTrie::default();
            trie.insert(stored, stored.clone());
            for query in &all {
                let found = trie.overlapping(query, |_| true).is_some();
                assert_eq!(found, Subject::overlap(stored, query), "stored {stored}, query {query}");
            }
        }
    }

    #[test]
    fn skips_what_the_caller_refuses_and_finds_the_next() {
        let mut trie = SubjectTrie::default();
        trie.insert("shop.orders.>", 1);
        trie.insert("shop.*.eu", 2);
        trie.insert("shop.payments", 3);
        assert_eq!(trie.overlapping("shop.orders.eu", |_| true), Some(&1));
        assert_eq!(trie.overlapping("shop.orders.eu", |v| *v != 1), Some(&2));
        assert_eq!(trie.overlapping("shop.orders.eu", |v| *v > 2), None);
        assert_eq!(trie.overlapping(">", |v| *v == 3), Some(&3));
        assert_eq!(trie.overlapping("other", |_| true), None);
    }
}
