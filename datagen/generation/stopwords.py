"""Stop words for Evol-Instruct's "only punctuation and stop words" rule, per language, used together.

An answer fails the rule when every one of its Unicode words is a stop word of *some* language below, so the
rule needs no language detection and an answer in a language that is not listed can only pass (its words are
content). English is NLTK's list (the usual meaning of "stop words"); the others are the most frequent
function words of each language. Chinese and Japanese are written without spaces, so a run of characters is
one word and passes unless it is a single listed particle.
"""

from __future__ import annotations

_BY_LANGUAGE = {
    "en": """i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he
        him his himself she she's her hers herself it it's its itself they them their theirs themselves what which
        who whom this that that'll these those am is are was were be been being have has had having do does did
        doing a an the and but if or because as until while of at by for with about against between into through
        during before after above below to from up down in out on off over under again further then once here
        there when where why how all any both each few more most other some such no nor not only own same so than
        too very s t can will just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't
        didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't
        needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't""",
    "de": """der die das den dem des ein eine einer eines einem einen und oder aber doch ist sind war waren sein
        bin bist seid nicht kein keine zu in im an am auf aus bei mit nach von vom zum zur für über unter vor
        durch es er sie wir ihr ich du man sich auch als so wie wenn dass da hier dort noch nur schon sehr""",
    "fr": """le la les l de des du d un une et ou mais est sont était être a ai as ont avoir ne pas plus en dans
        sur sous pour par avec sans au aux ce cet cette ces il elle ils elles on nous vous je tu me te se y
        que qui quoi dont où si comme très bien aussi""",
    "es": """el la los las lo un una unos unas y o pero es son era ser estar está están de del al en con sin
        por para sobre entre no ni que quien como más muy ya también se su sus le les me te nos yo tú él
        ella ellos ellas este esta estos estas ese esa""",
    "pt": """o a os as um uma uns umas e ou mas é são era ser estar está de do da dos das em no na nos nas com
        sem por para não que se seu sua eu tu ele ela eles elas nós este esta isso isto muito também já""",
    "it": """il lo la i gli le un uno una e o ma è sono era essere di del della dei delle a al alla da dal in
        nel nella con su per tra fra non che chi se si mi ti ci vi io tu lui lei noi voi loro questo questa
        molto anche già""",
    "ru": """и в во не на я что он она оно они мы вы ты с со как а то все всё так его её ее но да к у же за бы
        по только мне было вот от меня ещё еще нет о об из ему им их ли если или ни быть был была были это
        этот эта эти тот та те там тут где когда уже для при без до над под""",
    "zh": """的 了 是 在 和 也 就 都 而 及 与 着 或 之 这 那 个 我 你 他 她 它 们 吗 呢 吧 啊""",
    "ja": """の に は を た が で て と し れ さ ある いる も する から な こと として い や れる など なっ""",
}

STOP_WORDS = frozenset(w for words in _BY_LANGUAGE.values() for w in words.split())
LANGUAGES = tuple(_BY_LANGUAGE)
