//! A plan as people read it: one [`PlanView`] built from a [`Plan`], shown as terminal text
//! (Terraform's words) or as Markdown for a pull-request comment, split into parts under a
//! size. Both say first what a reviewer most needs to see: many deletes, who gains or loses
//! access, data that may be lost; then every change, in the order apply makes them (the
//! plan's own order). Values are in HCL syntax as the files write them, long strings as line
//! diffs, sets element by element; secrets are never shown.
//!
//! This module only shows: it never decides what a plan does, and reads nothing but the plan
//! (and what its caller passes in a [`ViewContext`]).

mod access;
mod linediff;
mod markdown;
mod text;
mod value;
mod view;

pub use access::RoleNames;
pub use view::{MANY_DELETES, PlanView, ViewContext};

use super::Plan;

/// `Plan: 2 to add, 1 to change, 1 to destroy.`, `No changes. ...`, or the conflicts that
/// block the plan.
pub fn summary_line(plan: &Plan) -> String {
    view::summary(plan)
}

/// The whole plan as terminal text.
pub fn human(plan: &Plan) -> String {
    text(plan, &ViewContext::default())
}

/// The plan as terminal text, with what the caller knows beyond it.
pub fn text(plan: &Plan, context: &ViewContext) -> String {
    text::render(&PlanView::new(plan, context))
}

/// The plan as one Markdown document.
pub fn markdown(plan: &Plan, context: &ViewContext) -> String {
    markdown::render(&PlanView::new(plan, context))
}

/// GitHub's limit on one comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// The plan as Markdown parts of at most `max_bytes` bytes each, the summary first, each part
/// valid Markdown on its own (see [`markdown::render_parts`]).
pub fn markdown_parts(plan: &Plan, context: &ViewContext, max_bytes: usize) -> Vec<String> {
    markdown::render_parts(&PlanView::new(plan, context), max_bytes)
}
