"""coupons: referral red packets, coupons, redemptions and referrals."""
