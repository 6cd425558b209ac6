"""Independent high-precision references (mpmath) for the (M)BG/CNBD-k, written from the model's
definition, not from clvmodels.math.cnbdk.

Not a test module. ``s`` is 1 for the MBG/CNBD-k (dropout coin also tossed at time 0), else 0.

* :func:`loglik` - the published closed form (Reutterer, Platzer & Schroeder 2021; BTYDplus ``xbgcnbd.LL``)
  evaluated directly in linear space at high precision;
* :func:`loglik_integral` - the individual-level likelihood integrated over lambda ~ Gamma(r, alpha) by
  quadrature (p integrated in closed form), no use of the negative binomial;
* :func:`conditional_expected` / :func:`p_no_purchase_ahead` - expectations over the posterior of
  (alive, phase, lambda): the phase weights integrated from the individual-level model, lambda integrated
  out as negative-binomial event counts, and the future purchases and dropout tosses summed term by term
  over the counts (the implementation sums blocks of purchases with incomplete beta tails instead);
* :func:`p_purchases` - the probability mass function of a new customer (BTYDplus ``xbgcnbd_pmf_cpp``),
  from the Poisson counts integrated over lambda in closed form (negative binomial sums).
"""

from __future__ import annotations

import mpmath as mp


def _beta_ratio(a, b, m):
    """E[(1-p)^m] for p ~ Beta(a, b)."""
    return mp.beta(a, b + m) / mp.beta(a, b)


def loglik(k, r, alpha, a, b, x, t_x, T, litt, s):
    k, x = int(k), int(x)
    rk = r + k * x
    S = mp.fsum(mp.rf(rk, j) / mp.factorial(j) * ((T - t_x) / (alpha + T)) ** j for j in range(k))
    L = _beta_ratio(a, b, x + s) * S / (alpha + T) ** rk
    if x > 0 or s:
        L += mp.beta(a + 1, b + x + s - 1) / mp.beta(a, b) / (alpha + t_x) ** rk
    L *= mp.gamma(rk) / mp.gamma(r) * alpha ** r * mp.exp((k - 1) * litt) / mp.factorial(k - 1) ** x
    return mp.log(L)


def _lambda_points(R, scale):
    """Quadrature breakpoints around the mode of lambda^(R-1) e^(-lambda scale)."""
    mode = max(R - 1, mp.mpf("1e-3")) / scale
    sd = mp.sqrt(max(R, 1)) / scale
    pts = [mp.mpf(0)] + [mode + d * sd for d in (-8, -4, -2, -1, 0, 1, 2, 4, 8, 16) if mode + d * sd > 0]
    return sorted(set(pts)) + [mp.inf]


def _gamma_density(lam, r, alpha):
    return alpha ** r * lam ** (r - 1) * mp.exp(-alpha * lam) / mp.gamma(r)


def _alive_weight(lam, k, j, x, t_x, T):
    """P(history, alive at T, phase j | lambda) without the p factor and the litt factor."""
    return lam ** (k * x) * mp.exp(-lam * T) * (lam * (T - t_x)) ** j / mp.factorial(j)


def loglik_integral(k, r, alpha, a, b, x, t_x, T, litt, s):
    k, x = int(k), int(x)
    alive = _beta_ratio(a, b, x + s)
    drop = mp.beta(a + 1, b + x + s - 1) / mp.beta(a, b) if (x > 0 or s) else 0

    def f(lam):
        val = alive * mp.fsum(_alive_weight(lam, k, j, x, t_x, T) for j in range(k))
        val += drop * lam ** (k * x) * mp.exp(-lam * t_x)
        return val * _gamma_density(lam, r, alpha)
    L = mp.quad(f, _lambda_points(r + k * x, alpha + t_x))
    return mp.log(L) + (k - 1) * litt - x * mp.log(mp.factorial(k - 1))


def _phase_weights(k, r, alpha, x, t_x, T):
    """P(phase j | alive at T, history), j = 0..k-1, from the definition: given lambda, alive at T in phase j
    has weight lambda^(kx) e^(-lambda T) (lambda (T - t_x))^j / j! (j Poisson events since t_x, none of them
    completing a purchase); integrated against Gamma(r, alpha) term by term."""
    w = [mp.exp(mp.loggamma(r + k * x + j) - mp.loggamma(r) - (r + k * x + j) * mp.log(alpha + T))
         * (T - t_x) ** j / mp.factorial(j) for j in range(k)]
    total = mp.fsum(w)
    return [v / total for v in w]


def _nb_terms(R, q, tol):
    """(i, P(N = i)) for N ~ NB(R, q) (Poisson events of a Gamma(R, rate) rate over a period, q = rate /
    (rate + t)), i = 0, 1, ..., until past the mean and the terms times i fall below ``tol``."""
    mean = R * (1 - q) / q
    i, pmf = 0, q ** R
    while True:
        yield i, pmf
        if i > mean and pmf * (i + 1) < tol:
            return
        pmf = pmf * (R + i) / (i + 1) * (1 - q)
        i += 1


def conditional_expected(k, r, alpha, a, b, x, t_x, T, t, s):
    """Expected purchases in (T, T+t]: P(alive) sum_j pi_j E[sum_{n=1}^{M_j} rho_{n-1}], M_j = floor((N_j + j)/k)
    purchases of a customer who stays (N_j ~ NB(r+kx+j, (alpha+T)/(alpha+T+t)) Poisson events), the n-th
    counted if the n-1 tosses before it kept the customer: rho_m = E[(1-p)^m], p ~ Beta(a, b+x+s). Summed
    term by term over the event counts (no incomplete beta functions, no blocks)."""
    k, x = int(k), int(x)
    bp = b + x + s
    q = (alpha + T) / (alpha + T + t)
    tol = mp.mpf(10) ** (-mp.mp.dps - 5)
    total = mp.mpf(0)
    for j, pi in enumerate(_phase_weights(k, r, alpha, x, t_x, T)):
        rho, kept = mp.mpf(1), [mp.mpf(0)]             # kept[m] = sum_{n<m} rho_n
        acc = mp.mpf(0)
        for i, pmf in _nb_terms(r + k * x + j, q, tol):
            m = (i + j) // k
            while len(kept) <= m:
                kept.append(kept[-1] + rho)
                n = len(kept) - 2
                rho = rho * (bp + n) / (a + bp + n)
            acc += pmf * kept[m]
        total += pi * acc
    return p_alive(k, r, alpha, a, b, x, t_x, T, s) * total


def p_no_purchase_ahead(k, r, alpha, a, b, x, t_x, T, t, s):
    """P(no purchase in (T, T+t] | alive at T, history): fewer than k-j Poisson events, sum_j pi_j P(N_j < k-j)."""
    k, x = int(k), int(x)
    q = (alpha + T) / (alpha + T + t)
    out = mp.mpf(0)
    for j, pi in enumerate(_phase_weights(k, r, alpha, x, t_x, T)):
        R = r + k * x + j
        pmf, below = q ** R, mp.mpf(0)
        for i in range(k - j):
            below += pmf
            pmf = pmf * (R + i) / (i + 1) * (1 - q)
        out += pi * below
    return out


def p_alive(k, r, alpha, a, b, x, t_x, T, s):
    k, x = int(k), int(x)
    if x == 0 and not s:
        return mp.mpf(1)
    rk = r + k * x
    S = mp.fsum(mp.rf(rk, j) / mp.factorial(j) * ((T - t_x) / (alpha + T)) ** j for j in range(k))
    return 1 / (1 + a / (b + x + s - 1) * ((alpha + T) / (alpha + t_x)) ** rk / S)


def _nb(r, alpha, t, i):
    return mp.gamma(r + i) / (mp.gamma(r) * mp.factorial(i)) * (alpha / (alpha + t)) ** r * (t / (alpha + t)) ** i


def p_purchases(k, r, alpha, a, b, n, t, s):
    k, n = int(k), int(n)
    inside = mp.fsum(_nb(r, alpha, t, i) for i in range(n * k, n * k + k))
    out = _beta_ratio(a, b, n + s) * inside
    if n > 0 or s:
        tail = 1 - mp.fsum(_nb(r, alpha, t, i) for i in range(n * k)) if n > 0 else mp.mpf(1)
        if n > 0 and tail < mp.mpf(10) ** (-mp.mp.dps // 2):
            tail = mp.betainc(n * k, r, 0, t / (alpha + t), regularized=True)
        out += mp.beta(a + 1, b + n + s - 1) / mp.beta(a, b) * tail
    return out
