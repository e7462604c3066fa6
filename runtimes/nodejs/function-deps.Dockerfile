FROM @BUILDER@ AS deps
@LABELS@
COPY fn/ /fn/
WORKDIR /fn
RUN npm install --omit=dev --no-audit --no-fund --ignore-scripts

FROM @BASE@
@LABELS@
COPY --from=deps /fn /fn
