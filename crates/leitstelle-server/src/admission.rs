//! Admission control: how much of the pipeline a request may take, and when it must wait or
//! be told to retry.
//!
//! Every intake request takes room for its events before they are parsed, and holds it until
//! detection has processed them: a share of its tenant's in-flight events and of everyone's
//! (two FIFO semaphores, the tenant's first, so a tenant at its share queues behind itself
//! and not in front of the others). A tenant may also have a rate quota (events per second
//! with a burst). The store's lag is checked by the pipeline, which owns the journal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::LimitsConfig;

/// Room for some events in the pipeline, held until detection has processed them.
pub struct Admission {
    _tenant: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

/// Why a request was refused (the sender is told to retry).
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The metrics label: `busy`, `quota` or `store_lag`.
    pub reason: &'static str,
    pub message: String,
}

/// A tenant's side of admission.
struct TenantGate {
    in_flight: Arc<Semaphore>,
    share: usize,
    rate: Option<TokenBucket>,
}

/// The in-flight shares and rate quotas of every tenant.
pub struct Gates {
    all: Arc<Semaphore>,
    limits: LimitsConfig,
    tenants: Mutex<HashMap<Arc<str>, TenantGate>>,
}

impl Gates {
    pub fn new(limits: LimitsConfig) -> Gates {
        Gates {
            all: Arc::new(Semaphore::new(limits.max_in_flight_events.max(1))),
            limits,
            tenants: Mutex::default(),
        }
    }

    /// The tenant's semaphore and share, and whether its rate quota allows `n` events now
    /// (`Err`: how long until it may).
    fn tenant(
        &self,
        tenant: &Arc<str>,
        n: usize,
        now: Instant,
    ) -> (Arc<Semaphore>, usize, Result<(), Duration>) {
        let mut gates = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let gate = gates.entry(Arc::clone(tenant)).or_insert_with(|| {
            let quota = self.limits.tenants.get(tenant.as_ref());
            let share = quota
                .and_then(|q| q.max_in_flight_events)
                .unwrap_or(self.limits.max_in_flight_events_per_tenant)
                .clamp(1, self.limits.max_in_flight_events.max(1));
            TenantGate {
                in_flight: Arc::new(Semaphore::new(share)),
                share,
                rate: quota
                    .filter(|q| q.events_per_sec > 0)
                    .map(|q| TokenBucket::new(q.events_per_sec, q.burst_events, now)),
            }
        });
        let rate = match &mut gate.rate {
            Some(bucket) => bucket.take(n, now),
            None => Ok(()),
        };
        (Arc::clone(&gate.in_flight), gate.share, rate)
    }

    /// Takes room for `n` events of `tenant`, waiting until `deadline` (`None`: as long as it
    /// takes). `Err(None)`: shutting down.
    pub async fn admit(
        &self,
        tenant: &Arc<str>,
        n: usize,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Admission, Option<Refusal>> {
        let (sem, share) = loop {
            match self.tenant(tenant, n, Instant::now()) {
                (sem, share, Ok(())) => break (sem, share),
                (_, _, Err(after)) => {
                    if deadline.is_some() {
                        return Err(Some(Refusal {
                            reason: "quota",
                            message: format!(
                                "tenant `{tenant}` is over its rate quota; retry in {} ms",
                                after.as_millis().max(1)
                            ),
                        }));
                    }
                    tokio::time::sleep(after).await;
                }
            }
        };
        let all = Arc::clone(&self.all);
        let max_all = self.limits.max_in_flight_events.max(1);
        let take = async move {
            // A request larger than a share takes the whole share.
            let t = sem.acquire_many_owned(n.clamp(1, share) as u32).await;
            let a = all.acquire_many_owned(n.clamp(1, max_all) as u32).await;
            match (t, a) {
                (Ok(t), Ok(a)) => Ok(Admission {
                    _tenant: t,
                    _all: a,
                }),
                _ => Err(None),
            }
        };
        match deadline {
            None => take.await,
            Some(d) => tokio::time::timeout_at(d, take).await.unwrap_or_else(|_| {
                Err(Some(Refusal {
                    reason: "busy",
                    message: "the server is busy (too many events not yet through detection); \
                              retry later"
                        .into(),
                }))
            }),
        }
    }
}

/// An average rate with a burst: tokens refill at `per_sec` up to `burst`. A request may
/// take more than is left (the bucket goes into debt) as long as at least one token is left,
/// so a request larger than the burst is not refused forever.
#[derive(Debug)]
struct TokenBucket {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(per_sec: u64, burst: u64, now: Instant) -> TokenBucket {
        let burst = if burst == 0 { per_sec } else { burst } as f64;
        TokenBucket {
            per_sec: per_sec as f64,
            burst,
            tokens: burst,
            at: now,
        }
    }

    /// Takes `n` tokens, or says how long until one is left.
    fn take(&mut self, n: usize, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= n as f64;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - self.tokens) / self.per_sec).clamp(0.001, 60.0),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenantLimits;

    fn limits(all: usize, per_tenant: usize) -> LimitsConfig {
        LimitsConfig {
            max_in_flight_events: all,
            max_in_flight_events_per_tenant: per_tenant,
            ..LimitsConfig::default()
        }
    }

    fn soon() -> Option<tokio::time::Instant> {
        Some(tokio::time::Instant::now() + Duration::from_millis(50))
    }

    /// Why `n` events of `tenant` are refused; fails the test if they get in.
    async fn refusal(g: &Gates, tenant: &Arc<str>, n: usize) -> Refusal {
        g.admit(tenant, n, soon())
            .await
            .err()
            .flatten()
            .expect("refused")
    }

    #[test]
    fn the_bucket_refills_at_its_rate_and_allows_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 20, t0);
        assert_eq!(
            b.take(25, t0),
            Ok(()),
            "a full bucket takes more than its burst"
        );
        let wait = b.take(1, t0).expect_err("in debt");
        // 5 in debt: six tokens to go at 10/s.
        assert!((wait.as_secs_f64() - 0.6).abs() < 1e-6, "{wait:?}");
        assert!(b.take(1, t0 + Duration::from_millis(500)).is_err());
        assert_eq!(b.take(1, t0 + Duration::from_millis(600)), Ok(()));
        // Never more than the burst, however long it was idle.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.take(20, later), Ok(()));
        assert!(b.take(1, later).is_err());
    }

    #[tokio::test]
    async fn a_tenant_at_its_share_waits_and_the_others_do_not() {
        let g = Gates::new(limits(100, 40));
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let held = g.admit(&a, 40, soon()).await.expect("room");
        let refused = refusal(&g, &a, 1).await;
        assert_eq!(refused.reason, "busy");
        let other = g.admit(&b, 40, soon()).await;
        assert!(other.is_ok(), "another tenant is not held up");
        drop(held);
        assert!(
            g.admit(&a, 10, soon()).await.is_ok(),
            "room again once detected"
        );
    }

    #[tokio::test]
    async fn the_whole_pipeline_full_makes_everyone_wait_in_turn() {
        let g = Arc::new(Gates::new(limits(50, 50)));
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let held = g
            .admit(&a, 500, soon())
            .await
            .expect("a big request takes it all");
        assert_eq!(refusal(&g, &b, 1).await.reason, "busy");
        let g2 = Arc::clone(&g);
        let waiting = tokio::spawn(async move { g2.admit(&b, 5, None).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "waits while the pipeline is full");
        drop(held);
        assert!(waiting.await.expect("task"), "gets in once there is room");
    }

    #[tokio::test]
    async fn rate_quotas_are_per_tenant() {
        let mut l = limits(1000, 1000);
        l.tenants.insert(
            "noisy".into(),
            TenantLimits {
                events_per_sec: 1,
                burst_events: 5,
                max_in_flight_events: None,
            },
        );
        let g = Gates::new(l);
        let (noisy, quiet): (Arc<str>, Arc<str>) = ("noisy".into(), "quiet".into());
        drop(g.admit(&noisy, 5, soon()).await.expect("within the burst"));
        let r = refusal(&g, &noisy, 1).await;
        assert_eq!(r.reason, "quota");
        assert!(r.message.contains("noisy"), "{}", r.message);
        for _ in 0..20 {
            drop(g.admit(&quiet, 100, soon()).await.expect("no quota"));
        }
    }

    #[tokio::test]
    async fn a_tenant_share_can_be_set_per_tenant() {
        let mut l = limits(100, 50);
        l.tenants.insert(
            "small".into(),
            TenantLimits {
                max_in_flight_events: Some(3),
                ..TenantLimits::default()
            },
        );
        let g = Gates::new(l);
        let small: Arc<str> = "small".into();
        let _held = g.admit(&small, 3, soon()).await.expect("room");
        assert!(g.admit(&small, 1, soon()).await.is_err());
    }
}
