//! A connection's operations: each one bounded (how many at once, the rate limits), run through
//! the schema, its results forwarded until it completes or the client stops it.

use std::net::IpAddr;

use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};
use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::{self, BoxStream, SelectAll};

use super::{Connection, End, close};
use crate::auth::Viewer;
use crate::http::graphql::{RequestParams, is_request_error, mask_internal_errors};
use crate::rate_limit::{RateLimiter, Refusal};
use crate::websocket::protocol::CLOSE_DUPLICATE_ID;

/// One result of an operation, tagged so that results of an operation the client already
/// completed (or whose id it reused since) are dropped.
pub(super) struct Outcome {
    id: String,
    generation: u64,
    event: Event,
}

enum Event {
    Result(Box<Response>),
    /// The operation failed before it ran: parse, validation, variables, marks on subscription
    /// roots, limits, timeout.
    Refused(Vec<ServerError>),
    Done,
}

pub(super) type Results = SelectAll<BoxStream<'static, Outcome>>;

impl Connection {
    pub(super) async fn subscribe(
        &mut self,
        id: String,
        payload: Box<RequestParams>,
        results: &mut Results,
    ) -> Result<(), End> {
        if self.operations.contains_key(&id) {
            return Err(close(
                CLOSE_DUPLICATE_ID,
                format!("Subscriber for {id} already exists"),
            ));
        }
        if self.operations.len() >= self.state.max_operations {
            let error = refusal(
                "RATE_LIMITED",
                "ws_subscription_limit",
                format!(
                    "At most {} operations may run at once on one connection.",
                    self.state.max_operations
                ),
            );
            return self.send(self.messages.error(&id, &[error])).await;
        }
        let quota = spend_quota(
            &self.state.rate_limits,
            self.client.ip,
            self.viewer.as_deref(),
        );
        if let Err(limited) = quota.await {
            return self.send(self.messages.error(&id, &[limited])).await;
        }
        let mut request = payload.into_request();
        (self.state.request_data)(&mut request.data, self.viewer.clone());
        self.generation += 1;
        let generation = self.generation;
        let (abort, registration) = AbortHandle::new_pair();
        let running = crate::metrics::socket_operation_started();
        self.operations
            .insert(id.clone(), (generation, abort, running));
        let responses = self.state.schema.execute_stream(request);
        results.push(outcomes(id, generation, responses, registration));
        Ok(())
    }

    pub(super) async fn on_outcome(&mut self, outcome: Outcome) -> Result<(), End> {
        let current = self
            .operations
            .get(&outcome.id)
            .map(|(generation, _, _)| *generation);
        if current != Some(outcome.generation) {
            return Ok(()); // completed by the client meanwhile
        }
        match outcome.event {
            Event::Result(response) => self.send(self.messages.next(&outcome.id, &response)).await,
            Event::Refused(errors) => {
                self.operations.remove(&outcome.id);
                self.send(self.messages.error(&outcome.id, &errors)).await
            }
            Event::Done => {
                self.operations.remove(&outcome.id);
                self.send(self.messages.complete(&outcome.id)).await
            }
        }
    }
}

/// The operation's responses as outcomes: the first one, when it is a request error, is a
/// refusal; then `Done`, unless the client stopped the operation.
fn outcomes(
    id: String,
    generation: u64,
    responses: BoxStream<'static, Response>,
    registration: futures_util::future::AbortRegistration,
) -> BoxStream<'static, Outcome> {
    let tag = move |event| Outcome {
        id: id.clone(),
        generation,
        event,
    };
    let mut first = true;
    let events = responses.map(move |mut response| {
        mask_internal_errors(&mut response, None);
        let refused = std::mem::take(&mut first) && is_request_error(&response);
        if refused {
            Event::Refused(response.errors)
        } else {
            Event::Result(Box::new(response))
        }
    });
    Abortable::new(
        events.chain(stream::once(async { Event::Done })),
        registration,
    )
    .map(tag)
    .boxed()
}

/// One operation is one request of the address's and the user's quotas.
async fn spend_quota(
    limits: &RateLimiter,
    ip: IpAddr,
    viewer: Option<&Viewer>,
) -> Result<(), ServerError> {
    let spent = match limits.check_address(ip).await {
        Ok(()) => match viewer {
            Some(viewer) => limits.check_user(&viewer.user_id).await,
            None => Ok(()),
        },
        Err(refused) => Err(refused),
    };
    match spent {
        Err(Refusal {
            limit,
            retry_after_secs,
        }) => {
            let mut error = refusal(
                "RATE_LIMITED",
                limit.reason(),
                limit.message(retry_after_secs),
            );
            if let Some(extensions) = &mut error.extensions {
                extensions.set("retryAfter", retry_after_secs);
            }
            Err(error)
        }
        _ => Ok(()),
    }
}
/// An error of an operation refused before it ran, with `extensions.code` and `reason`.
fn refusal(code: &str, reason: &str, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    extensions.set("reason", Value::from(reason));
    error.extensions = Some(extensions);
    error
}
