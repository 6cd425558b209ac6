"""Independent high-precision references (mpmath), written from the papers' formulas.

Not a test module. Each reference evaluates the published closed form directly (no log-space
rewriting, no transformations of ours) at increasing working precision until two precisions agree,
because mpmath's own hypergeometric routines can lose digits at a fixed precision for large
parameters.
"""

from __future__ import annotations

import mpmath as mp


def stable(fn, *args, precisions=(40, 80, 160), rtol="1e-25"):
    prev = None
    for dps in precisions:
        with mp.workdps(dps):
            value = fn(*[mp.mpf(float(a)) for a in args])
        if prev is not None and (value == prev or abs(value / prev - 1) < mp.mpf(rtol)):
            return value
        prev = value
    raise AssertionError(f"mpmath reference did not stabilise for {args}")


# ---- BG/NBD (Fader, Hardie & Lee 2005) --------------------------------------------------------
def bg_loglik(r, alpha, a, b, x, t_x, T):
    """eq. 6"""
    common = mp.beta(a, b + x) / mp.beta(a, b) * mp.gamma(r + x) / mp.gamma(r) * alpha**r
    L = common / (alpha + T) ** (r + x)
    if x > 0:
        L += mp.beta(a + 1, b + x - 1) / mp.beta(a, b) * mp.gamma(r + x) / mp.gamma(r) * alpha**r / (alpha + t_x) ** (r + x)
    return mp.log(L)


def bg_expected_new(r, alpha, a, b, t):
    """eq. 7"""
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * mp.hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def bg_p_alive(r, alpha, a, b, x, t_x, T):
    if x == 0:
        return mp.mpf(1)
    return 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))


def bg_conditional(r, alpha, a, b, x, t_x, T, t):
    """eq. 10"""
    num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x)
                                        * mp.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t)))
    den = 1 + (a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0)
    return num / den


def _nb(r, alpha, t, j):
    return mp.gamma(r + j) / (mp.gamma(r) * mp.factorial(j)) * (alpha / (alpha + t)) ** r * (t / (alpha + t)) ** j


def _nb_tail(r, alpha, t, n):
    """1 - sum_{j<n} NB(j); the finite sum when it does not cancel, else mpmath's regularised
    incomplete beta (the tail can be 1e-300 while the sum is 1)."""
    head = mp.fsum(_nb(r, alpha, t, j) for j in range(n))
    if 1 - head > mp.mpf(10) ** (-mp.mp.dps // 2):
        return 1 - head
    return mp.betainc(n, r, 0, t / (alpha + t), regularized=True)


def bg_p_purchases(r, alpha, a, b, n, t):
    """eq. 8"""
    n = int(n)
    out = mp.beta(a, b + n) / mp.beta(a, b) * _nb(r, alpha, t, n)
    if n > 0:
        out += mp.beta(a + 1, b + n - 1) / mp.beta(a, b) * _nb_tail(r, alpha, t, n)
    return out


# ---- MBG/NBD (Batislam, Denizel & Filiztekin 2007) ----------------------------------------------
def mbg_loglik(r, alpha, a, b, x, t_x, T):
    common = mp.gamma(r + x) / mp.gamma(r) * alpha**r / mp.beta(a, b)
    L = common * (mp.beta(a, b + x + 1) / (alpha + T) ** (r + x) + mp.beta(a + 1, b + x) / (alpha + t_x) ** (r + x))
    return mp.log(L)


def mbg_expected_new(r, alpha, a, b, t):
    return b / (a - 1) * (1 - (alpha / (alpha + t)) ** r * mp.hyp2f1(r, b + 1, a + b, t / (alpha + t)))


def mbg_p_alive(r, alpha, a, b, x, t_x, T):
    return 1 / (1 + a / (b + x) * ((alpha + T) / (alpha + t_x)) ** (r + x))


def mbg_conditional(r, alpha, a, b, x, t_x, T, t):
    num = (a + b + x) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x)
                                    * mp.hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t)))
    return num * mbg_p_alive(r, alpha, a, b, x, t_x, T)


def mbg_p_purchases(r, alpha, a, b, n, t):
    n = int(n)
    tail = _nb_tail(r, alpha, t, n) if n > 0 else mp.mpf(1)
    return (mp.beta(a, b + n + 1) * _nb(r, alpha, t, n) + mp.beta(a + 1, b + n) * tail) / mp.beta(a, b)


# ---- Gamma-Gamma (Fader & Hardie 2013) ---------------------------------------------------------
def gg_loglik(p, q, v, x, m):
    return mp.log(mp.gamma(p * x + q) / (mp.gamma(p * x) * mp.gamma(q)) * v**q * m ** (p * x - 1) * x ** (p * x)
                  / (v + m * x) ** (p * x + q))


def gg_conditional(p, q, v, x, m):
    return p * (v + x * m) / (p * x + q - 1)
