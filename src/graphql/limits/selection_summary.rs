//! What a document selects once its fragments are expanded, per selection set: fields, aliases,
//! root fields, nesting and introspection (`limits`, step 4, checks these against the limits).
//! Fragments are summarised once and reused; a fragment that spreads itself, or nesting past the
//! limit, stops the walk.

use std::collections::HashMap;

use async_graphql::Pos;
use async_graphql::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// What one selection set selects once its fragments are expanded. Nesting is relative: 1 for
/// a set without nested sets.
#[derive(Clone, Copy, Default)]
pub(super) struct Summary {
    pub(super) fields: u64,
    pub(super) aliases: u64,
    pub(super) root_fields: u64,
    pub(super) nesting: usize,
    pub(super) introspection: bool,
}

impl Summary {
    /// Adds a selection set that sits at the same level (a fragment, an inline fragment).
    fn add_same_level(&mut self, other: &Summary) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.root_fields = self.root_fields.saturating_add(other.root_fields);
        self.nesting = self.nesting.max(other.nesting);
        self.introspection |= other.introspection;
    }

    /// Adds the selection set of a field.
    fn add_nested(&mut self, other: &Summary) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.nesting = self.nesting.max(other.nesting + 1);
        self.introspection |= other.introspection;
    }
}

enum Fragment {
    /// Being summarised: meeting it again is a cycle.
    Open,
    Done(Summary),
}

pub(super) enum Refusal {
    /// Nested deeper than the limit (through fields and fragment spreads).
    TooDeep(Pos),
    /// A fragment that spreads itself, directly or not.
    Cycle(String, Pos),
}

pub(super) struct SelectionWalker<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a str, Fragment>,
    /// Selection sets being summarised, one inside the other: bounded by the nesting limit, so
    /// that a chain of thousands of fragments cannot exhaust the stack.
    open_sets: usize,
    max_nesting: usize,
}

impl<'a> SelectionWalker<'a> {
    pub(super) fn new(document: &'a ExecutableDocument, max_nesting: usize) -> Self {
        Self {
            document,
            fragments: HashMap::new(),
            open_sets: 0,
            max_nesting,
        }
    }

    /// The summary of an operation's (or any) selection set; each call starts at nesting 0.
    pub(super) fn operation(
        &mut self,
        set: &'a Positioned<SelectionSet>,
    ) -> Result<Summary, Refusal> {
        self.open_sets = 0;
        self.selection_set(set)
    }

    /// The summary of a fragment definition on its own, expanded.
    pub(super) fn fragment_definition(
        &mut self,
        name: &'a str,
    ) -> Result<Option<Summary>, Refusal> {
        self.open_sets = 0;
        self.fragment(name, Pos::default())
    }

    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>) -> Result<Summary, Refusal> {
        self.open_sets += 1;
        if self.open_sets > self.max_nesting {
            return Err(Refusal::TooDeep(set.pos));
        }
        let mut summary = Summary {
            nesting: 1,
            ..Summary::default()
        };
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    summary.fields = summary.fields.saturating_add(1);
                    summary.root_fields = summary.root_fields.saturating_add(1);
                    if field.alias.is_some() {
                        summary.aliases = summary.aliases.saturating_add(1);
                    }
                    if matches!(field.name.node.as_str(), "__schema" | "__type") {
                        summary.introspection = true;
                    }
                    if !field.selection_set.node.items.is_empty() {
                        let nested = self.selection_set(&field.selection_set)?;
                        summary.add_nested(&nested);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let mut inner = self.selection_set(&fragment.node.selection_set)?;
                    // Like async-graphql's recursion check: a fragment is one level deeper.
                    inner.nesting += 1;
                    summary.add_same_level(&inner);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(mut inner) = self.fragment(name, spread.pos)? {
                        inner.nesting += 1;
                        summary.add_same_level(&inner);
                    }
                }
            }
        }
        self.open_sets -= 1;
        Ok(summary)
    }

    /// `None` for an unknown fragment, which validation reports.
    fn fragment(&mut self, name: &'a str, pos: Pos) -> Result<Option<Summary>, Refusal> {
        match self.fragments.get(name) {
            Some(Fragment::Open) => return Err(Refusal::Cycle(name.to_string(), pos)),
            Some(Fragment::Done(summary)) => return Ok(Some(*summary)),
            None => {}
        }
        let Some((name, definition)) = self.document.fragments.get_key_value(name) else {
            return Ok(None);
        };
        let name = name.as_str();
        self.fragments.insert(name, Fragment::Open);
        let summary = self.selection_set(&definition.node.selection_set)?;
        self.fragments.insert(name, Fragment::Done(summary));
        Ok(Some(summary))
    }
}
